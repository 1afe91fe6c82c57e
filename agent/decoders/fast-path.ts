// The common case of live and offline captures, SLL2 + IPv4 + TCP/UDP, read straight into the flow matcher without
// allocating. It accepts only frames the general decoders (decodePacket) would decode fully, and returns false
// for anything else so the caller takes the general path; test/decoders/fast-path.test.ts checks the two agree.

import { LINKTYPE } from './link.js';

/** Where the fast path delivers an IPv4 packet (the flow matcher): addresses as unsigned 32-bit numbers. */
export interface V4PacketSink {
  observeV4(
    src: number,
    dst: number,
    proto: number,
    sport: number | null,
    dport: number | null,
    tcpFlags: number,
    ifindex: number | null,
    outgoing: boolean,
    ts: number,
    seq?: number,
    ack?: number,
  ): unknown;
}

export function fastPathV4(linktype: number, b: Uint8Array, off: number, caplen: number, matcher: V4PacketSink, ts: number): boolean {
  if (linktype !== LINKTYPE.LINUX_SLL2 || caplen < 40) return false;
  const end = off + caplen;
  if (b[off] !== 0x08 || b[off + 1] !== 0x00) return false; // EtherType IPv4
  const ip = off + 20;
  const vihl = b[ip]!;
  if (vihl >> 4 !== 4) return false;
  const hlen = (vihl & 0x0f) * 4;
  const total = (b[ip + 2]! << 8) | b[ip + 3]!;
  if (hlen < 20 || total < hlen || end - ip < hlen) return false;
  if ((((b[ip + 6]! << 8) | b[ip + 7]!) & 0x1fff) !== 0) return false; // non-first fragment
  const proto = b[ip + 9]!;
  const l4 = ip + hlen;
  const l4end = Math.min(end, ip + total);
  let flags = 0;
  let seq = 0;
  let ack = 0;
  if (proto === 6) {
    if (l4end - l4 < 20 || b[l4 + 12]! >> 4 < 5) return false;
    flags = b[l4 + 13]!;
    seq = ((b[l4 + 4]! << 24) >>> 0) + ((b[l4 + 5]! << 16) | (b[l4 + 6]! << 8) | b[l4 + 7]!);
    ack = ((b[l4 + 8]! << 24) >>> 0) + ((b[l4 + 9]! << 16) | (b[l4 + 10]! << 8) | b[l4 + 11]!);
  } else if (proto === 17) {
    if (l4end - l4 < 8) return false;
    const ulen = (b[l4 + 4]! << 8) | b[l4 + 5]!;
    if (ulen !== 0 && ulen < 8) return false;
  } else return false;
  const ifindex = ((b[off + 4]! << 24) >>> 0) + ((b[off + 5]! << 16) | (b[off + 6]! << 8) | b[off + 7]!);
  const src = ((b[ip + 12]! << 24) >>> 0) + ((b[ip + 13]! << 16) | (b[ip + 14]! << 8) | b[ip + 15]!);
  const dst = ((b[ip + 16]! << 24) >>> 0) + ((b[ip + 17]! << 16) | (b[ip + 18]! << 8) | b[ip + 19]!);
  const sport = (b[l4]! << 8) | b[l4 + 1]!;
  const dport = (b[l4 + 2]! << 8) | b[l4 + 3]!;
  matcher.observeV4(src, dst, proto, sport, dport, flags, ifindex, b[off + 10] === 4, ts, seq, ack);
  return true;
}

/** Whether an SLL2 + IPv4 + TCP frame has `port` as source or destination (bounds-checked; false when unsure). */
export function sll2V4TcpHasPort(linktype: number, b: Uint8Array, off: number, caplen: number, port: number): boolean {
  if (linktype !== LINKTYPE.LINUX_SLL2 || caplen < 40 || b[off] !== 0x08 || b[off + 1] !== 0x00) return false;
  const ip = off + 20;
  // An IHL below 5 (or another version) would put the "ports" inside the IP header: not TCP we can be sure of.
  if (b[ip]! >> 4 !== 4 || (b[ip]! & 0x0f) < 5 || b[ip + 9] !== 6) return false;
  const l4 = ip + (b[ip]! & 0x0f) * 4;
  if (l4 + 4 > off + caplen) return false;
  return ((b[l4]! << 8) | b[l4 + 1]!) === port || ((b[l4 + 2]! << 8) | b[l4 + 3]!) === port;
}
