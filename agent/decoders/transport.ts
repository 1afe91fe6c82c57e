// Upper-layer decoders: TCP, UDP, ICMP, ICMPv6, and ARP (which rides directly on the link layer).

import { at, available, fail, ipv4Text, ipv6Text, macText, u16, u32, u8, type Cursor, type DecodeFailure } from './cursor.js';
import { decodeIpv4, decodeIpv6 } from './ip.js';

export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_ACK = 0x10;

export interface PortsInfo {
  ok: true;
  sport: number;
  dport: number;
  /** TCP flags; 0 for UDP */
  flags: number;
  seq: number;
  /** TCP acknowledgment number; 0 for UDP */
  ack: number;
}

export type PortsResult = PortsInfo | DecodeFailure;

// TCP, RFC 9293:
//  0 source port(16) | destination port(16)
//  4 sequence number(32)   8 acknowledgment number(32)
// 12 data offset(4) reserved(4) | flags(8: CWR ECE URG ACK PSH RST SYN FIN) | window(16)
// 16 checksum(16) | urgent pointer(16)   20 options (data offset*4 - 20 bytes)
export function decodeTcp(c: Cursor): PortsResult {
  if (available(c) < 20) return fail('tcp', 'truncated', `header needs 20 bytes, ${available(c)} captured`);
  const doff = (u8(c, 12) >> 4) * 4;
  if (doff < 20) return fail('tcp', 'malformed', `data offset ${doff}`);
  return { ok: true, sport: u16(c, 0), dport: u16(c, 2), flags: u8(c, 13), seq: u32(c, 4), ack: u32(c, 8) };
}

// UDP, RFC 768: source port(16) | destination port(16) | length(16) | checksum(16)
export function decodeUdp(c: Cursor): PortsResult {
  if (available(c) < 8) return fail('udp', 'truncated', `header needs 8 bytes, ${available(c)} captured`);
  const len = u16(c, 4);
  if (len !== 0 && len < 8) return fail('udp', 'malformed', `length ${len}`);
  return { ok: true, sport: u16(c, 0), dport: u16(c, 2), flags: 0, seq: 0, ack: 0 };
}

export interface IcmpInfo {
  ok: true;
  type: number;
  code: number;
  /** a destination-unreachable error: the packet it answers, as far as it was quoted and captured */
  quoted: QuotedPacket | null;
}

/** The start of the packet an ICMP error quotes: its addresses, protocol and (TCP/UDP) ports. */
export interface QuotedPacket {
  family: 4 | 6;
  src: string;
  dst: string;
  src4: number | null;
  dst4: number | null;
  proto: number;
  sport: number;
  dport: number;
}

// ICMP (RFC 792) and ICMPv6 (RFC 4443): type(8) | code(8) | checksum(16) | rest of header(32)
// Destination unreachable (ICMP type 3 but code 4, "fragmentation needed", which is no answer; ICMPv6 type 1) quotes
// from byte 8 the IP header and at least the first 8 bytes of the packet it answers (RFC 792, RFC 4443 3.1).
export function decodeIcmp(c: Cursor, v6: boolean): IcmpInfo | DecodeFailure {
  const layer = v6 ? 'icmpv6' : 'icmp';
  if (available(c) < 4) return fail(layer, 'truncated', `header needs 4 bytes, ${available(c)} captured`);
  const type = u8(c, 0);
  const code = u8(c, 1);
  const unreachable = v6 ? type === 1 : type === 3 && code !== 4;
  return { ok: true, type, code, quoted: unreachable && available(c) >= 8 ? decodeQuoted(at(c, c.off + 8), v6) : null };
}

// A quote that cannot be read (cut off, not TCP/UDP, a later fragment) is no failure of the ICMP message: null.
function decodeQuoted(c: Cursor, v6: boolean): QuotedPacket | null {
  const ip = v6 ? decodeIpv6(c) : decodeIpv4(c);
  if (!ip.ok || !ip.hasL4 || (ip.proto !== 6 && ip.proto !== 17)) return null;
  const l4 = at(c, ip.next);
  if (available(l4) < 4) return null;
  return {
    family: ip.family,
    src: ip.src,
    dst: ip.dst,
    src4: ip.src4,
    dst4: ip.dst4,
    proto: ip.proto,
    sport: u16(l4, 0),
    dport: u16(l4, 2),
  };
}

export interface ArpInfo {
  ok: true;
  op: number; // 1 request, 2 reply
  senderMac: string;
  senderIp: string;
  targetMac: string;
  targetIp: string;
}

// ARP, RFC 826, for Ethernet/IPv4 (the only form the analysis uses):
//  0 hardware type(16)=1 | protocol type(16)=0x0800 | hlen(8)=6 | plen(8)=4 | operation(16)
//  8 sender MAC(6) sender IP(4) target MAC(6) target IP(4)
export function decodeArp(c: Cursor): ArpInfo | DecodeFailure {
  if (available(c) < 8) return fail('arp', 'truncated', `header needs 8 bytes, ${available(c)} captured`);
  const hlen = u8(c, 4);
  const plen = u8(c, 5);
  if (u16(c, 2) !== 0x0800 || hlen !== 6 || plen !== 4)
    return fail('arp', 'unsupported', `hardware/protocol ${u16(c, 0)}/${u16(c, 2)} lengths ${hlen}/${plen}`);
  if (available(c) < 28) return fail('arp', 'truncated', `Ethernet/IPv4 ARP needs 28 bytes, ${available(c)} captured`);
  return {
    ok: true,
    op: u16(c, 6),
    senderMac: macText(c, 8),
    senderIp: ipv4Text(c, 14),
    targetMac: macText(c, 18),
    targetIp: ipv4Text(c, 24),
  };
}

export interface NdpInfo {
  ok: true;
  /** 135 neighbour solicitation, 136 neighbour advertisement */
  type: 135 | 136;
  target: string;
  /** NA flags (RFC 4861 4.4); false for NS */
  router: boolean;
  solicited: boolean;
  override: boolean;
  /** Source (NS, option 1) or Target (NA, option 2) Link-Layer Address, when present and 6 bytes */
  lla: string | null;
}

// NDP neighbour solicitation and advertisement, RFC 4861 4.3/4.4 (carried in ICMPv6, RFC 4443):
//  0 type(8)=135|136 | code(8)=0 | checksum(16)
//  4 NS: reserved(32) | NA: R(1) S(1) O(1) reserved(29)
//  8 target address(128)
// 24 options: type(8) | length(8, in units of 8 bytes, 0 is invalid) | value...; 1 source LLA, 2 target LLA
export function decodeNdp(c: Cursor): NdpInfo | DecodeFailure {
  if (available(c) < 24) return fail('icmpv6', 'truncated', `neighbour discovery needs 24 bytes, ${available(c)} captured`);
  const type = u8(c, 0);
  if (type !== 135 && type !== 136) return fail('icmpv6', 'unsupported', `ICMPv6 type ${type} is not neighbour discovery`);
  if (u8(c, 1) !== 0) return fail('icmpv6', 'malformed', `neighbour discovery code ${u8(c, 1)}`);
  const flags = u8(c, 4);
  let lla: string | null = null;
  for (let o = 24; o + 2 <= available(c);) {
    const len = u8(c, o + 1) * 8;
    if (len === 0) return fail('icmpv6', 'malformed', `option ${u8(c, o)} with length 0`);
    if (o + len > available(c)) return fail('icmpv6', 'truncated', `option ${u8(c, o)} needs ${len} bytes, ${available(c) - o} captured`);
    const want = type === 135 ? 1 : 2;
    if (u8(c, o) === want && len === 8) lla = macText(c, o + 2);
    o += len;
  }
  const na = type === 136;
  return {
    ok: true,
    type,
    target: ipv6Text(c, 8),
    router: na && (flags & 0x80) !== 0,
    solicited: na && (flags & 0x40) !== 0,
    override: na && (flags & 0x20) !== 0,
    lla,
  };
}
