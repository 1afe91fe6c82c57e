// feedPacket's routing of one frame, on frames built by hand from the header layouts (SLL2, Ethernet, RFC 791,
// RFC 9293, RFC 826, RFC 8200, RFC 4861): which of the fast path, the general decoders, the ARP/NDP tap and the BGP
// tap each frame reaches, what it returns, and the failure counts.

import { describe, expect, it } from 'vitest';
import type { FlowMatcher } from '../../agent/analysis/flow-matcher.js';
import { failureRecord, feedPacket, type PacketTap } from '../../agent/analysis/packet-feed.js';
import { LINKTYPE } from '../../agent/decoders/link.js';
import type { PacketSummary } from '../../agent/decoders/packet.js';

const BGP = 179;

// SLL2: protocol(16) | reserved(16) | ifindex(32) | hatype(16) | pkttype(8) | halen(8) | address(8 bytes)
function sll2(ethertype: number, ifindex: number, payload: number[]): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(ethertype, 0);
  h.writeUInt32BE(ifindex, 4);
  h.writeUInt16BE(1, 8);
  h[10] = 0; // to us
  h[11] = 6;
  h.set([2, 0, 0, 0, 0, 1], 12);
  return Buffer.concat([h, Buffer.from(payload)]);
}

// Ethernet II: dst(6) | src(6) | ethertype(16)
function ether(ethertype: number, payload: number[]): Buffer {
  return Buffer.from([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, ethertype >> 8, ethertype & 0xff, ...payload]);
}

// IPv4 (20 bytes, no options) + TCP (20 bytes, SYN) from 192.0.2.1:sport to 198.51.100.7:dport
function ipv4Tcp(sport: number, dport: number): number[] {
  const ip = [0x45, 0, 0, 40, 0, 1, 0, 0, 64, 6, 0, 0, 192, 0, 2, 1, 198, 51, 100, 7];
  const tcp = [sport >> 8, sport & 0xff, dport >> 8, dport & 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0];
  return [...ip, ...tcp];
}

// Ethernet/IPv4 ARP request: who has 192.0.2.7, tell 192.0.2.1
const ARP = [0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 192, 0, 2, 7];

// IPv6 (hop limit 255) carrying an ICMPv6 neighbour solicitation for 2001:db8::7
function ipv6Ns(): number[] {
  const target = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7];
  const icmp = [135, 0, 0, 0, 0, 0, 0, 0, ...target];
  const src = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
  return [0x60, 0, 0, 0, 0, icmp.length, 58, 255, ...src, ...target, ...icmp];
}

interface Seen {
  v4: number[][];
  general: PacketSummary[];
  arp: PacketSummary[];
  bgp: PacketSummary[];
  failures: string[];
}

function rig(): { seen: Seen; matcher: FlowMatcher; arp: PacketTap; bgpTap: PacketTap; onFailure: (l: string, r: string) => void } {
  const seen: Seen = { v4: [], general: [], arp: [], bgp: [], failures: [] };
  const matcher = {
    observeV4: (src: number, dst: number, proto: number, sport: number | null, dport: number | null) => {
      seen.v4.push([src, dst, proto, sport ?? -1, dport ?? -1]);
    },
    observe: (d: PacketSummary) => {
      seen.general.push(d);
      return null;
    },
  } as unknown as FlowMatcher;
  return {
    seen,
    matcher,
    arp: { observe: (d) => seen.arp.push(d) },
    bgpTap: { observe: (d) => seen.bgp.push(d) },
    onFailure: (l, r) => seen.failures.push(`${l}:${r}`),
  };
}

const SRC4 = 0xc0000201;
const DST4 = 0xc6336407;

describe('feedPacket', () => {
  it('takes an SLL2 IPv4 TCP frame through the fast path only, and reports an interface', () => {
    const r = rig();
    const b = sll2(0x0800, 3, ipv4Tcp(40000, 80));
    expect(
      feedPacket(r.matcher, r.onFailure, LINKTYPE.LINUX_SLL2, b, 0, b.length, 1000, { arp: r.arp, bgp: { port: BGP, tap: r.bgpTap } }),
    ).toBe(true);
    expect(r.seen.v4).toEqual([[SRC4, DST4, 6, 40000, 80]]);
    expect(r.seen.general).toEqual([]);
    expect(r.seen.bgp).toEqual([]);
    expect(r.seen.arp).toEqual([]);
    expect(r.seen.failures).toEqual([]);
  });

  it.each([
    ['to', 40000, BGP],
    ['from', BGP, 40000],
  ])('takes TCP %s the BGP port past the fast path, to the BGP tap and the matcher', (_, sport, dport) => {
    const r = rig();
    const b = sll2(0x0800, 3, ipv4Tcp(sport, dport));
    expect(
      feedPacket(r.matcher, r.onFailure, LINKTYPE.LINUX_SLL2, b, 0, b.length, 1000, { arp: r.arp, bgp: { port: BGP, tap: r.bgpTap } }),
    ).toBe(true);
    expect(r.seen.v4).toEqual([]);
    expect(r.seen.bgp.map((d) => [d.src, d.dst, d.sport, d.dport])).toEqual([['192.0.2.1', '198.51.100.7', sport, dport]]);
    expect(r.seen.general).toEqual(r.seen.bgp);
    expect(r.seen.arp).toEqual([]);
  });

  it('still feeds the matcher when the BGP port has no tap', () => {
    const r = rig();
    const b = sll2(0x0800, 3, ipv4Tcp(40000, BGP));
    expect(feedPacket(r.matcher, r.onFailure, LINKTYPE.LINUX_SLL2, b, 0, b.length, 1000, { bgp: { port: BGP, tap: null } })).toBe(true);
    expect(r.seen.v4).toEqual([]);
    expect(r.seen.general.map((d) => d.dport)).toEqual([BGP]);
  });

  it('takes an Ethernet frame (no fast path) through the general decoders; no interface without adjust', () => {
    const r = rig();
    const b = ether(0x0800, ipv4Tcp(40000, 80));
    expect(feedPacket(r.matcher, r.onFailure, LINKTYPE.ETHERNET, b, 0, b.length, 1000)).toBe(false);
    expect(r.seen.v4).toEqual([]);
    expect(r.seen.general.map((d) => [d.src, d.dst, d.sport, d.dport, d.ifindex])).toEqual([
      ['192.0.2.1', '198.51.100.7', 40000, 80, null],
    ]);
  });

  it('keeps TCP on other ports from the BGP tap on the general path too', () => {
    const r = rig();
    const b = ether(0x0800, ipv4Tcp(40000, 80));
    expect(feedPacket(r.matcher, r.onFailure, LINKTYPE.ETHERNET, b, 0, b.length, 1000, { bgp: { port: BGP, tap: r.bgpTap } })).toBe(false);
    expect(r.seen.bgp).toEqual([]);
    expect(r.seen.general.map((d) => d.dport)).toEqual([80]);
  });

  it('lets adjust fill in the interface before the matcher sees the packet', () => {
    const r = rig();
    const b = ether(0x0800, ipv4Tcp(40000, 80));
    let seenByAdjust: number | null | undefined;
    const adjust = (d: PacketSummary): void => {
      seenByAdjust = d.ifindex;
      d.ifindex = 9;
    };
    expect(feedPacket(r.matcher, r.onFailure, LINKTYPE.ETHERNET, b, 0, b.length, 1000, { adjust })).toBe(true);
    expect(seenByAdjust).toBeNull();
    expect(r.seen.general.map((d) => d.ifindex)).toEqual([9]);
  });

  it('gives ARP to the ARP tap and the matcher, never to the BGP tap', () => {
    const r = rig();
    const b = sll2(0x0806, 4, ARP);
    expect(
      feedPacket(r.matcher, r.onFailure, LINKTYPE.LINUX_SLL2, b, 0, b.length, 7, { arp: r.arp, bgp: { port: BGP, tap: r.bgpTap } }),
    ).toBe(true);
    expect(r.seen.arp.map((d) => [d.kind, d.arp?.senderIp, d.arp?.targetIp])).toEqual([['arp', '192.0.2.1', '192.0.2.7']]);
    expect(r.seen.general).toEqual(r.seen.arp);
    expect(r.seen.bgp).toEqual([]);
  });

  it('gives an NDP neighbour solicitation to the ARP tap and the matcher', () => {
    const r = rig();
    const b = sll2(0x86dd, 4, ipv6Ns());
    expect(
      feedPacket(r.matcher, r.onFailure, LINKTYPE.LINUX_SLL2, b, 0, b.length, 7, { arp: r.arp, bgp: { port: BGP, tap: r.bgpTap } }),
    ).toBe(true);
    expect(r.seen.arp.map((d) => [d.ndp?.type, d.ndp?.target])).toEqual([[135, '2001:db8::7']]);
    expect(r.seen.general).toEqual(r.seen.arp);
    expect(r.seen.bgp).toEqual([]);
  });

  it('feeds ARP to the matcher without an ARP tap', () => {
    const r = rig();
    const b = sll2(0x0806, 4, ARP);
    expect(feedPacket(r.matcher, r.onFailure, LINKTYPE.LINUX_SLL2, b, 0, b.length, 7, { arp: null })).toBe(true);
    expect(r.seen.general.map((d) => d.kind)).toEqual(['arp']);
  });

  it('counts a frame the decoders refuse, answers null and feeds nobody', () => {
    const r = rig();
    const b = sll2(0x0800, 3, ipv4Tcp(40000, 80)).subarray(0, 30); // the IPv4 header cut off
    expect(
      feedPacket(r.matcher, r.onFailure, LINKTYPE.LINUX_SLL2, b, 0, b.length, 1000, { arp: r.arp, bgp: { port: BGP, tap: r.bgpTap } }),
    ).toBeNull();
    expect(r.seen.failures).toEqual(['ipv4:truncated']);
    expect(r.seen.v4).toEqual([]);
    expect(r.seen.general).toEqual([]);
    expect(r.seen.arp).toEqual([]);
    expect(r.seen.bgp).toEqual([]);
  });

  it('reads the frame at its offset and captured length inside a larger buffer', () => {
    const r = rig();
    const f = sll2(0x0800, 3, ipv4Tcp(40000, BGP));
    const b = Buffer.concat([Buffer.alloc(5, 0xee), f, Buffer.alloc(9, 0xee)]);
    expect(feedPacket(r.matcher, r.onFailure, LINKTYPE.LINUX_SLL2, b, 5, f.length, 1000, { bgp: { port: BGP, tap: r.bgpTap } })).toBe(true);
    expect(r.seen.bgp.map((d) => d.dport)).toEqual([BGP]);
  });
});

describe('failureRecord', () => {
  it('counts failures under "layer:reason"', () => {
    const into: Record<string, number> = { 'tcp:truncated': 2 };
    const sink = failureRecord(into);
    sink('ipv4', 'truncated');
    sink('ipv4', 'truncated');
    sink('tcp', 'truncated');
    sink('ipv6', 'malformed');
    expect(into).toEqual({ 'tcp:truncated': 3, 'ipv4:truncated': 2, 'ipv6:malformed': 1 });
  });
});
