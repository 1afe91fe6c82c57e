// IPv4 and IPv6 decoders.

import { at, available, fail, ipv4Text, ipv6Text, u16, u32, u8, type Cursor, type DecodeFailure } from './cursor.js';

export interface IpInfo {
  ok: true;
  family: 4 | 6;
  src: string;
  dst: string;
  /** IPv4 addresses as unsigned 32-bit numbers (null for IPv6) */
  src4: number | null;
  dst4: number | null;
  /** upper-layer protocol (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6) */
  proto: number;
  /** the upper-layer header is present: not a non-first fragment */
  hasL4: boolean;
  fragment: boolean;
  /** upper layer: [next, end) clipped to what was captured and to the IP length */
  next: number;
  end: number;
  ttl: number;
}

export type IpResult = IpInfo | DecodeFailure;

// IPv4, RFC 791:
//  0 version(4) IHL(4) | DSCP/ECN(8) | total length(16)
//  4 identification(16) | flags(3) fragment offset(13)
//  8 TTL(8) | protocol(8) | header checksum(16)
// 12 source address   16 destination address   20 options (IHL*4 - 20 bytes)
export function decodeIpv4(c: Cursor): IpResult {
  if (available(c) < 20) return fail('ipv4', 'truncated', `header needs 20 bytes, ${available(c)} captured`);
  const vihl = u8(c, 0);
  if (vihl >> 4 !== 4) return fail('ipv4', 'malformed', `version ${vihl >> 4}`);
  const hlen = (vihl & 0x0f) * 4;
  if (hlen < 20) return fail('ipv4', 'malformed', `header length ${hlen}`);
  // Total length 0 is a TSO/BIG TCP send (Linux 6.3+ sets it above 64 KiB): bounded by what was captured, as for IPv6.
  const total = u16(c, 2);
  if (total !== 0 && total < hlen) return fail('ipv4', 'malformed', `total length ${total} < header length ${hlen}`);
  if (available(c) < hlen) return fail('ipv4', 'truncated', `options cut off (${hlen} bytes, ${available(c)} captured)`);
  const frag = u16(c, 6);
  const offset = frag & 0x1fff;
  const more = (frag & 0x2000) !== 0;
  return {
    ok: true,
    family: 4,
    src: ipv4Text(c, 12),
    dst: ipv4Text(c, 16),
    src4: u32(c, 12),
    dst4: u32(c, 16),
    proto: u8(c, 9),
    hasL4: offset === 0,
    fragment: offset !== 0 || more,
    next: c.off + hlen,
    end: total === 0 ? c.end : Math.min(c.end, c.off + total),
    ttl: u8(c, 8),
  };
}

// IPv6, RFC 8200:
//  0 version(4) traffic class(8) flow label(20)
//  4 payload length(16) | next header(8) | hop limit(8)
//  8 source address (16)   24 destination address (16)   40 extension headers, then the upper layer
// Extension headers walked: hop-by-hop (0), routing (43), destination options (60), mobility (135):
// next(8) len(8, in 8-octet units, excluding the first 8); fragment (44): 8 bytes, offset(13) in bytes 2-3;
// AH (51, RFC 4302): len in 4-octet units minus 2. ESP (50) and no-next-header (59) end the walk.
const EXT_GENERIC = new Set([0, 43, 60, 135, 139, 140]);

export function decodeIpv6(c: Cursor): IpResult {
  if (available(c) < 40) return fail('ipv6', 'truncated', `header needs 40 bytes, ${available(c)} captured`);
  if (u8(c, 0) >> 4 !== 6) return fail('ipv6', 'malformed', `version ${u8(c, 0) >> 4}`);
  const plen = u16(c, 4);
  // Payload length 0 is a jumbogram (RFC 2675): bounded by what was captured.
  const end = plen === 0 ? c.end : Math.min(c.end, c.off + 40 + plen);
  let nh = u8(c, 6);
  let off = c.off + 40;
  let hasL4 = true;
  let fragment = false;
  for (let n = 0; n < 16; n++) {
    if (EXT_GENERIC.has(nh) || nh === 51) {
      if (end - off < 8) return fail('ipv6', 'truncated', `extension header ${nh} cut off`);
      const e = at(c, off, end);
      const len = nh === 51 ? (u8(e, 1) + 2) * 4 : (u8(e, 1) + 1) * 8;
      if (end - off < len) return fail('ipv6', 'truncated', `extension header ${nh} (${len} bytes) cut off`);
      nh = u8(e, 0);
      off += len;
      continue;
    }
    if (nh === 44) {
      if (end - off < 8) return fail('ipv6', 'truncated', 'fragment header cut off');
      const e = at(c, off, end);
      const fo = u16(e, 2);
      fragment = true;
      if (fo >> 3 !== 0) hasL4 = false;
      nh = u8(e, 0);
      off += 8;
      continue;
    }
    break;
  }
  if (EXT_GENERIC.has(nh) || nh === 44 || nh === 51) return fail('ipv6', 'malformed', 'more than 16 extension headers');
  return {
    ok: true,
    family: 6,
    src: ipv6Text(c, 8),
    dst: ipv6Text(c, 24),
    src4: null,
    dst4: null,
    proto: nh,
    hasL4: hasL4 && nh !== 59 && nh !== 50,
    fragment,
    next: off,
    end,
    ttl: u8(c, 7),
  };
}
