// Table tests per layer, and a bounded mutation fuzz test: decoders never throw, whatever the bytes.

import { describe, expect, it } from 'vitest';
import { decodePacket, type PacketResult } from '../../agent/decoders/packet.js';
import { LINKTYPE } from '../../agent/decoders/link.js';
import { arpRequest, ethernet, ipv4Packet, ipv6Packet, sll2, tcpSegment } from '../../bench/frames.js';
import { parseIp } from '../../agent/net/ip.js';
import { prng } from '../helpers/root.js';

const SYN = 0x02;
const TCP_V4 = ipv4Packet('203.0.113.5', '192.168.1.240', 6, tcpSegment({ src: '', dst: '', sport: 40000, dport: 443, flags: SYN }));
const UDP_V6_EXT = ipv6Packet(
  '2001:db8:c::5',
  '2001:db8:1::240',
  17,
  [0x9c, 0x40, 0, 53, 0, 8, 0, 0],
  [
    [0, 1, 4, 0, 0, 0, 0], // hop-by-hop, 8 bytes
    [60, 1, 4, 0, 0, 0, 0], // destination options
  ],
);

const v6 = (t: string) => Array.from({ length: 16 }, (_x, i) => Number((parseIp(t)!.value >> BigInt(8 * (15 - i))) & 0xffn));
const MAC = [0x02, 0, 0, 0, 0, 0x0b];
// RFC 4861: NS with a source link-layer option; NA (solicited + override) with a target link-layer option.
const NS = [135, 0, 0, 0, 0, 0, 0, 0, ...v6('2001:db8:1::240'), 1, 1, ...MAC];
const NA = [136, 0, 0, 0, 0x60, 0, 0, 0, ...v6('2001:db8:1::240'), 2, 1, ...MAC];
const NS_V6 = ipv6Packet('2001:db8:1::50', 'ff02::1:ff00:240', 58, NS);
const NA_V6 = ipv6Packet('2001:db8:1::240', '2001:db8:1::50', 58, NA);

const VALID: Array<[string, number, number[]]> = [
  ['SLL2 IPv4 TCP SYN in on ifindex 3', LINKTYPE.LINUX_SLL2, sll2(0x0800, 3, 'host', TCP_V4)],
  ['SLL2 IPv6 UDP with extension headers, outgoing', LINKTYPE.LINUX_SLL2, sll2(0x86dd, 7, 'outgoing', UDP_V6_EXT)],
  ['Ethernet QinQ IPv4 TCP', LINKTYPE.ETHERNET, ethernet(0x0800, TCP_V4, [100, 200])],
  ['Ethernet ARP', LINKTYPE.ETHERNET, ethernet(0x0806, arpRequest('192.168.1.254', '192.168.1.240'))],
  ['raw IPv4', LINKTYPE.RAW, TCP_V4],
  ['SLL2 NDP neighbour solicitation', LINKTYPE.LINUX_SLL2, sll2(0x86dd, 3, 'host', NS_V6)],
  ['SLL2 NDP neighbour advertisement, outgoing', LINKTYPE.LINUX_SLL2, sll2(0x86dd, 3, 'outgoing', NA_V6)],
];

const brief = (d: PacketResult) =>
  d.ok
    ? `${d.kind} if=${d.ifindex} ${d.direction} ${d.src}${d.sport !== null ? `.${d.sport}` : ''} > ${d.dst}${d.dport !== null ? `.${d.dport}` : ''} flags=${d.tcpFlags}${d.arp ? ` arp op ${d.arp.op} ${d.arp.senderIp} asks ${d.arp.targetIp}` : ''}${d.ndp ? ` ndp ${d.ndp.type} ${d.ndp.target} ${d.ndp.lla} s=${d.ndp.solicited} o=${d.ndp.override}` : ''}`
    : `${d.layer}:${d.reason}`;

describe('decodePacket', () => {
  it.each([
    [VALID[0]!, 'ip if=3 host 203.0.113.5.40000 > 192.168.1.240.443 flags=2'],
    [VALID[1]!, 'ip if=7 outgoing 2001:db8:c::5.40000 > 2001:db8:1::240.53 flags=null'],
    [VALID[2]!, 'ip if=null null 203.0.113.5.40000 > 192.168.1.240.443 flags=2'],
    [VALID[3]!, 'arp if=null null null > null flags=null arp op 1 192.168.1.254 asks 192.168.1.240'],
    [VALID[4]!, 'ip if=null null 203.0.113.5.40000 > 192.168.1.240.443 flags=2'],
    [VALID[5]!, 'ip if=3 host 2001:db8:1::50 > ff02::1:ff00:240 flags=null ndp 135 2001:db8:1::240 02:00:00:00:00:0b s=false o=false'],
    [VALID[6]!, 'ip if=3 outgoing 2001:db8:1::240 > 2001:db8:1::50 flags=null ndp 136 2001:db8:1::240 02:00:00:00:00:0b s=true o=true'],
  ])('%s', ([, lt, frame], expected) => {
    expect(brief(decodePacket(lt, Buffer.from(frame)))).toBe(expected);
  });

  it.each<[string, number, number[], string]>([
    ['SLL2 header cut', LINKTYPE.LINUX_SLL2, sll2(0x0800, 3, 'host', TCP_V4).slice(0, 19), 'link:truncated'],
    ['IPv4 header cut', LINKTYPE.LINUX_SLL2, sll2(0x0800, 3, 'host', TCP_V4).slice(0, 30), 'ipv4:truncated'],
    ['raw link, version nibble 5: not IP', LINKTYPE.RAW_DLT12, [0x55, ...TCP_V4.slice(1)], 'other if=null null null > null flags=null'],
    ['IPv4 link, version 5', LINKTYPE.IPV4, [0x55, ...TCP_V4.slice(1)], 'ipv4:malformed'],
    ['IPv4 IHL 4', LINKTYPE.RAW_DLT12, [0x44, ...TCP_V4.slice(1)], 'ipv4:malformed'],
    ['IPv4 total length below the header', LINKTYPE.IPV4, [0x45, 0, 0, 10, ...TCP_V4.slice(4)], 'ipv4:malformed'],
    [
      'IPv4 total length 0 (BIG TCP): the captured bytes',
      LINKTYPE.IPV4,
      [0x45, 0, 0, 0, ...TCP_V4.slice(4)],
      'ip if=null null 203.0.113.5.40000 > 192.168.1.240.443 flags=2',
    ],
    ['TCP header cut', LINKTYPE.IPV4, TCP_V4.slice(0, 30), 'tcp:truncated'],
    ['TCP data offset 3', LINKTYPE.IPV4, [...TCP_V4.slice(0, 32), 0x30, ...TCP_V4.slice(33)], 'tcp:malformed'],
    ['IPv6 extension header runs past the packet', LINKTYPE.IPV6, UDP_V6_EXT.slice(0, 44), 'ipv6:truncated'],
    ['ARP cut', LINKTYPE.ETHERNET, ethernet(0x0806, arpRequest('1.2.3.4', '5.6.7.8')).slice(0, 30), 'arp:truncated'],
    ['unknown link type', 9999, TCP_V4, 'link:unsupported'],
    ['NDP cut before the target', LINKTYPE.IPV6, ipv6Packet('2001:db8:1::50', 'ff02::1', 58, NS.slice(0, 20)), 'icmpv6:truncated'],
    [
      'NDP option of length 0',
      LINKTYPE.IPV6,
      ipv6Packet('2001:db8:1::50', 'ff02::1', 58, [...NS.slice(0, 24), 1, 0, ...MAC]),
      'icmpv6:malformed',
    ],
    [
      'NDP option longer than the packet',
      LINKTYPE.IPV6,
      ipv6Packet('2001:db8:1::50', 'ff02::1', 58, [...NS.slice(0, 24), 1, 2, ...MAC]),
      'icmpv6:truncated',
    ],
    ['NDP with a nonzero code', LINKTYPE.IPV6, ipv6Packet('2001:db8:1::50', 'ff02::1', 58, [135, 1, ...NS.slice(2)]), 'icmpv6:malformed'],
    [
      'non-first IPv4 fragment has no ports',
      LINKTYPE.IPV4,
      ipv4Packet('10.0.0.1', '10.0.0.2', 6, [1, 2, 3], { fragOffset: 100 }),
      'ip if=null null 10.0.0.1 > 10.0.0.2 flags=null',
    ],
  ])('%s -> %s', (_n, lt, frame, expected) => {
    expect(brief(decodePacket(lt, Buffer.from(frame)))).toBe(expected);
  });

  it('respects the captured length, not the buffer behind it', () => {
    const frame = Buffer.from(sll2(0x0800, 3, 'host', TCP_V4));
    expect(brief(decodePacket(LINKTYPE.LINUX_SLL2, frame, 0, 50))).toBe('tcp:truncated');
  });

  it('survives bounded random mutation of valid frames (a fixed count, each frame changed)', () => {
    const rand = prng(7);
    const FRAMES = 100_000;
    const outcomes = new Map<string, number>();
    let n = 0;
    let unchanged = 0;
    for (; n < FRAMES; n++) {
      const [, lt, frame] = VALID[n % VALID.length]!;
      const b = Buffer.from(frame);
      const flips = 1 + Math.floor(rand() * 4);
      // Each flip writes a different value, so every frame differs from the valid one.
      for (let i = 0; i < flips; i++) {
        const at = Math.floor(rand() * b.length);
        b[at] = (b[at]! + 1 + Math.floor(rand() * 255)) % 256;
      }
      if (b.equals(Buffer.from(frame))) unchanged++;
      const cut = rand() < 0.3 ? Math.floor(rand() * b.length) : b.length;
      const d = decodePacket(rand() < 0.05 ? Math.floor(rand() * 300) : lt, b, 0, cut);
      const k = d.ok ? `ok:${d.kind}` : `${d.layer}:${d.reason}`;
      outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
    }
    expect(unchanged).toBe(0);
    expect(n).toBe(FRAMES);
    expect(outcomes.get('ok:ip')).toBeGreaterThan(0);
    expect([...outcomes.keys()].filter((k) => k.endsWith(':truncated')).length).toBeGreaterThan(3);
    expect([...outcomes.keys()].filter((k) => k.endsWith(':malformed')).length).toBeGreaterThan(1);
  });
});
