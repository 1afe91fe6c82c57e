// decodePacket's whole summary, every field, for each kind of packet: which layers it chains, what each contributes,
// and that a failure of any layer is returned as that layer's typed failure.

import { describe, expect, it } from 'vitest';
import { LINKTYPE } from '../../agent/decoders/link.js';
import { decodePacket, type PacketSummary } from '../../agent/decoders/packet.js';
import { arpRequest, ethernet, ipv4Packet, ipv6Packet, sll2, tcpSegment } from '../../bench/frames.js';

const NONE: PacketSummary = {
  ok: true,
  ifindex: null,
  direction: null,
  srcMac: null,
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
const SLL2_MAC = '02:00:00:00:00:01';
const ETH_MAC = '02:00:00:00:00:01';
const TCP = tcpSegment({ src: '', dst: '', sport: 40000, dport: 443, flags: 0x12, seq: 0x80000001, ack: 0xfffffffe });
const UDP = [0x9c, 0x40, 0, 53, 0, 8, 0, 0];
const quoteV4 = ipv4Packet('192.168.1.240', '203.0.113.5', 17, [0, 53, 0x9c, 0x40, 0, 8, 0, 0]);
const v6 = (dst: string, proto: number, l4: number[]) => ipv6Packet('2001:db8:c::5', dst, proto, l4);

describe('decodePacket summaries', () => {
  it('SLL2 IPv4 TCP: link, addresses as text and numbers, ports, flags, sequence and acknowledgment', () => {
    const f = [0xaa, 0xbb, ...sll2(0x0800, 9, 'outgoing', ipv4Packet('203.0.113.5', '192.168.1.240', 6, TCP)), 0xcc];
    expect(decodePacket(LINKTYPE.LINUX_SLL2, Buffer.from(f), 2, f.length - 3)).toEqual({
      ...NONE,
      ifindex: 9,
      direction: 'outgoing',
      srcMac: SLL2_MAC,
      kind: 'ip',
      family: 4,
      src: '203.0.113.5',
      dst: '192.168.1.240',
      src4: 0xcb007105,
      dst4: 0xc0a801f0,
      proto: 6,
      sport: 40000,
      dport: 443,
      tcpFlags: 0x12,
      tcpSeq: 0x80000001,
      tcpAck: 0xfffffffe,
    });
  });

  it('IPv6 UDP: ports but no TCP fields; the captured length defaults to the rest of the buffer', () => {
    const f = [0xaa, ...v6('2001:db8:1::240', 17, UDP)];
    expect(decodePacket(LINKTYPE.RAW, Buffer.from(f), 1)).toEqual({
      ...NONE,
      kind: 'ip',
      family: 6,
      src: '2001:db8:c::5',
      dst: '2001:db8:1::240',
      proto: 17,
      sport: 40000,
      dport: 53,
    });
  });

  it('an IPv4 first fragment is a fragment with ports; a later one has neither ports nor flags', () => {
    const first = decodePacket(LINKTYPE.IPV4, Buffer.from(ipv4Packet('10.0.0.1', '10.0.0.2', 17, UDP, { more: true })));
    const later = decodePacket(LINKTYPE.IPV4, Buffer.from(ipv4Packet('10.0.0.1', '10.0.0.2', 6, TCP, { fragOffset: 3 })));
    const base = { ...NONE, kind: 'ip', family: 4, src: '10.0.0.1', dst: '10.0.0.2', src4: 0x0a000001, dst4: 0x0a000002, fragment: true };
    expect(first).toEqual({ ...base, proto: 17, sport: 40000, dport: 53 });
    expect(later).toEqual({ ...base, proto: 6 });
  });

  it('an ICMP port unreachable carries the packet it quotes', () => {
    const icmp = [3, 3, 0, 0, 0, 0, 0, 0, ...quoteV4];
    expect(decodePacket(LINKTYPE.IPV4, Buffer.from(ipv4Packet('192.168.1.240', '203.0.113.5', 1, icmp)))).toEqual({
      ...NONE,
      kind: 'ip',
      family: 4,
      src: '192.168.1.240',
      dst: '203.0.113.5',
      src4: 0xc0a801f0,
      dst4: 0xcb007105,
      proto: 1,
      icmpQuote: {
        family: 4,
        src: '192.168.1.240',
        dst: '203.0.113.5',
        src4: 0xc0a801f0,
        dst4: 0xcb007105,
        proto: 17,
        sport: 53,
        dport: 40000,
      },
    });
  });

  it('an ICMPv6 unreachable is read as ICMPv6 (type 1), an ICMPv4 type 1 is not unreachable', () => {
    const quote6 = v6('2001:db8:1::240', 17, UDP);
    const r6 = decodePacket(LINKTYPE.IPV6, Buffer.from(v6('2001:db8:1::240', 58, [1, 4, 0, 0, 0, 0, 0, 0, ...quote6])));
    const r4 = decodePacket(
      LINKTYPE.IPV4,
      Buffer.from(ipv4Packet('192.168.1.240', '203.0.113.5', 1, [1, 0, 0, 0, 0, 0, 0, 0, ...quoteV4])),
    );
    expect(r6.ok && r6.icmpQuote).toMatchObject({ family: 6, proto: 17, sport: 40000, dport: 53 });
    expect(r4.ok && [r4.kind, r4.icmpQuote]).toEqual(['ip', null]);
  });

  it('neighbour discovery only in ICMPv6: IPv4 ICMP type 135/136 has no ndp', () => {
    const ns = [135, 0, 0, 0, 0, 0, 0, 0, ...new Array(16).fill(0x11)];
    const r4 = decodePacket(LINKTYPE.IPV4, Buffer.from(ipv4Packet('10.0.0.1', '10.0.0.2', 1, ns)));
    const r6 = decodePacket(LINKTYPE.IPV6, Buffer.from(v6('ff02::1', 58, ns)));
    const r6echo = decodePacket(LINKTYPE.IPV6, Buffer.from(v6('ff02::1', 58, [128, 0, 0, 0, ...new Array(20).fill(0)])));
    expect(r4.ok && [r4.proto, r4.ndp]).toEqual([1, null]);
    expect(r6.ok && r6.ndp).toEqual({
      ok: true,
      type: 135,
      target: '1111:1111:1111:1111:1111:1111:1111:1111',
      router: false,
      solicited: false,
      override: false,
      lla: null,
    });
    expect(r6echo.ok && [r6echo.proto, r6echo.ndp]).toEqual([58, null]);
  });

  it('ARP on Ethernet: kind arp with its fields, the link source MAC, no IP fields', () => {
    expect(decodePacket(LINKTYPE.ETHERNET, Buffer.from(ethernet(0x0806, arpRequest('192.168.1.254', '192.168.1.240'))))).toEqual({
      ...NONE,
      srcMac: ETH_MAC,
      kind: 'arp',
      arp: {
        ok: true,
        op: 1,
        senderMac: '02:00:00:00:00:01',
        senderIp: '192.168.1.254',
        targetMac: '00:00:00:00:00:00',
        targetIp: '192.168.1.240',
      },
    });
  });

  it('other EtherTypes and protocols: the link fields only, or the IP fields without ports', () => {
    expect(decodePacket(LINKTYPE.LINUX_SLL2, Buffer.from(sll2(0x88cc, 4, 'host', [1, 2, 3])))).toEqual({
      ...NONE,
      ifindex: 4,
      direction: 'host',
      srcMac: SLL2_MAC,
    });
    expect(decodePacket(LINKTYPE.IPV6, Buffer.from(v6('2001:db8:1::240', 47, [0, 0, 0x08, 0])))).toEqual({
      ...NONE,
      kind: 'ip',
      family: 6,
      src: '2001:db8:c::5',
      dst: '2001:db8:1::240',
      proto: 47,
    });
  });

  it('protocols other than ICMP are not read as ICMP: neither a 3-byte payload nor one shaped like an unreachable', () => {
    const gre = (l4: number[]) => decodePacket(LINKTYPE.IPV4, Buffer.from(ipv4Packet('192.168.1.240', '203.0.113.5', 47, l4)));
    const short = gre([3, 3, 0]);
    const shaped = gre([3, 3, 0, 0, 0, 0, 0, 0, ...quoteV4]);
    expect([short.ok && [short.proto, short.icmpQuote], shaped.ok && [shaped.proto, shaped.icmpQuote]]).toEqual([
      [47, null],
      [47, null],
    ]);
  });

  it.each<[string, number, number[], string, string]>([
    ['link', LINKTYPE.LINUX_SLL2, sll2(0x0800, 3, 'host', []).slice(0, 12), 'link', 'truncated'],
    ['ARP', LINKTYPE.ETHERNET, ethernet(0x0806, [0, 1, 0x86, 0xdd, 6, 4, 0, 1]), 'arp', 'unsupported'],
    ['IPv4', LINKTYPE.ETHERNET, ethernet(0x0800, v6('::1', 17, UDP)), 'ipv4', 'malformed'],
    ['IPv6', LINKTYPE.ETHERNET, ethernet(0x86dd, ipv4Packet('10.0.0.1', '10.0.0.2', 6, TCP)), 'ipv6', 'malformed'],
    [
      'TCP cut by the IP length',
      LINKTYPE.IPV4,
      [0x45, 0, 0, 39, ...ipv4Packet('10.0.0.1', '10.0.0.2', 6, TCP).slice(4)],
      'tcp',
      'truncated',
    ],
    ['UDP', LINKTYPE.IPV4, ipv4Packet('10.0.0.1', '10.0.0.2', 17, [0, 1, 0, 2, 0, 3, 0, 0]), 'udp', 'malformed'],
    ['ICMP', LINKTYPE.IPV4, ipv4Packet('10.0.0.1', '10.0.0.2', 1, [3, 3, 0]), 'icmp', 'truncated'],
    ['ICMPv6', LINKTYPE.IPV6, v6('::1', 58, [1, 0, 0]), 'icmpv6', 'truncated'],
    ['NDP', LINKTYPE.IPV6, v6('::1', 58, [136, 0, 0, 0, 0, 0, 0, 0]), 'icmpv6', 'truncated'],
  ])('a %s failure is returned as that layer', (_n, lt, f, layer, reason) => {
    const r = decodePacket(lt, Buffer.from(f));
    expect(r.ok ? 'ok' : [r.layer, r.reason]).toEqual([layer, reason]);
  });
});
