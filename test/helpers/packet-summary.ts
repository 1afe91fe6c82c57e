// Hand-written decoded packets for the consumers of PacketSummary (BGP tracker, ARP/NDP evidence): every field empty
// unless given. The decoders' own tests spell their expected summaries out instead, so their oracle stays apart.

import type { PacketSummary } from '../../agent/decoders/packet.js';

export function summary(p: Partial<PacketSummary>): PacketSummary {
  return {
    ok: true,
    ifindex: null,
    direction: null,
    srcMac: null,
    kind: 'ip',
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
    ...p,
  } as PacketSummary;
}
