// One captured frame through the layer decoders, into the summary the flow matcher uses.

import { at, cursor, type DecodeFailure, type FailureReason, type Layer } from './cursor.js';
import { decodeIpv4, decodeIpv6 } from './ip.js';
import { decodeLink, type PacketDirection } from './link.js';
import { decodeArp, decodeIcmp, decodeNdp, decodeTcp, decodeUdp, type ArpInfo, type NdpInfo, type QuotedPacket } from './transport.js';

export interface PacketSummary {
  ok: true;
  ifindex: number | null;
  direction: PacketDirection | null;
  srcMac: string | null;
  /** 'ip' with addresses (and ports for TCP/UDP), 'arp', or 'other' for anything else (LLDP, STP...) */
  kind: 'ip' | 'arp' | 'other';
  family: 4 | 6 | null;
  src: string | null;
  dst: string | null;
  /** IPv4 addresses as unsigned 32-bit numbers */
  src4: number | null;
  dst4: number | null;
  proto: number | null;
  sport: number | null;
  dport: number | null;
  tcpFlags: number | null;
  /** TCP sequence and acknowledgment numbers (null when not TCP) */
  tcpSeq: number | null;
  tcpAck: number | null;
  /** an ICMP/ICMPv6 destination-unreachable error: the packet it answers */
  icmpQuote: QuotedPacket | null;
  fragment: boolean;
  arp: ArpInfo | null;
  /** IPv6 neighbour solicitation or advertisement */
  ndp: NdpInfo | null;
}

export type PacketResult = PacketSummary | DecodeFailure;

export type { DecodeFailure, FailureReason, Layer };

export function decodePacket(linktype: number, buf: Uint8Array, off = 0, caplen = buf.length - off): PacketResult {
  const c = cursor(buf, off, off + caplen);
  const link = decodeLink(linktype, c);
  if (!link.ok) return link;
  const base: PacketSummary = {
    ok: true,
    ifindex: link.ifindex,
    direction: link.direction,
    srcMac: link.srcMac,
    kind: 'other',
    family: null,
    src: null,
    dst: null,
    src4: null,
    dst4: null,
    proto: null,
    sport: null,
    dport: null,
    tcpFlags: null,
    tcpSeq: null,
    tcpAck: null,
    icmpQuote: null,
    fragment: false,
    arp: null,
    ndp: null,
  };
  const payload = at(c, link.next);
  if (link.ethertype === 0x0806) {
    const a = decodeArp(payload);
    if (!a.ok) return a;
    return { ...base, kind: 'arp', arp: a };
  }
  if (link.ethertype !== 0x0800 && link.ethertype !== 0x86dd) return base;
  const ip = link.ethertype === 0x0800 ? decodeIpv4(payload) : decodeIpv6(payload);
  if (!ip.ok) return ip;
  const out: PacketSummary = {
    ...base,
    kind: 'ip',
    family: ip.family,
    src: ip.src,
    dst: ip.dst,
    src4: ip.src4,
    dst4: ip.dst4,
    proto: ip.proto,
    fragment: ip.fragment,
  };
  if (!ip.hasL4) return out;
  const l4 = at(c, ip.next, ip.end);
  if (ip.proto === 6 || ip.proto === 17) {
    const p = ip.proto === 6 ? decodeTcp(l4) : decodeUdp(l4);
    if (!p.ok) return p;
    out.sport = p.sport;
    out.dport = p.dport;
    if (ip.proto === 6) {
      out.tcpFlags = p.flags;
      out.tcpSeq = p.seq;
      out.tcpAck = p.ack;
    }
  } else if (ip.proto === 1 || ip.proto === 58) {
    const i = decodeIcmp(l4, ip.proto === 58);
    if (!i.ok) return i;
    out.icmpQuote = i.quoted;
    if (ip.proto === 58 && (i.type === 135 || i.type === 136)) {
      const n = decodeNdp(l4);
      if (!n.ok) return n;
      out.ndp = n;
    }
  }
  return out;
}
