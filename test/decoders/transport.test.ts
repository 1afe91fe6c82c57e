// Upper-layer decoders field by field, on headers built by hand: TCP (RFC 9293), UDP (RFC 768), ICMP/ICMPv6
// errors and the packet they quote (RFC 792, RFC 4443), ARP (RFC 826) and neighbour discovery (RFC 4861): the
// boundaries of each length check and typed failures with their detail.

import { describe, expect, it } from 'vitest';
import { cursor, type Cursor } from '../../agent/decoders/cursor.js';
import { decodeArp, decodeIcmp, decodeNdp, decodeTcp, decodeUdp } from '../../agent/decoders/transport.js';

const PAD = [0xee, 0xee];
/** The bytes placed after 2 bytes of junk, with `tail` junk bytes (0x01) behind the captured end. */
function cur(bytes: number[], tail = 0): Cursor {
  const buf = Uint8Array.from([...PAD, ...bytes, ...new Array<number>(tail).fill(0x01)]);
  return cursor(buf, PAD.length, PAD.length + bytes.length);
}
const failure = (layer: string, reason: string, detail: string) => ({ ok: false, layer, reason, detail });

// 0 sport dport | 4 seq | 8 ack | 12 data offset, flags, window | 16 checksum, urgent
const tcp = (doff: number, flags: number) => [
  0xc3,
  0x51,
  0x01,
  0xbb,
  0x89,
  0xab,
  0xcd,
  0xef,
  0xfe,
  0xdc,
  0xba,
  0x98,
  doff << 4,
  flags,
  0xff,
  0xff,
  0,
  0,
  0,
  0,
];

describe('TCP', () => {
  it('reads ports, flags, sequence and acknowledgment numbers above 2^31 (exactly 20 bytes captured)', () => {
    expect(decodeTcp(cur(tcp(5, 0x12), 8))).toEqual({ ok: true, sport: 50001, dport: 443, flags: 0x12, seq: 0x89abcdef, ack: 0xfedcba98 });
  });

  it('a data offset above 5 is accepted without its options captured; below 5 is malformed', () => {
    const r = decodeTcp(cur(tcp(15, 0x02)));
    expect(r.ok && r.flags).toBe(0x02);
    expect(decodeTcp(cur(tcp(4, 0x02)))).toEqual(failure('tcp', 'malformed', 'data offset 16'));
  });

  it('19 captured bytes are truncated', () => {
    expect(decodeTcp(cur(tcp(5, 0x02).slice(0, 19), 8))).toEqual(failure('tcp', 'truncated', 'header needs 20 bytes, 19 captured'));
  });
});

describe('UDP', () => {
  const udp = (len: number) => [0x9c, 0x40, 0x00, 0x35, len >> 8, len & 0xff, 0x12, 0x34];

  it('reads ports (exactly 8 bytes); length 8 and 0 (jumbogram) are valid', () => {
    expect(decodeUdp(cur(udp(8), 4))).toEqual({ ok: true, sport: 40000, dport: 53, flags: 0, seq: 0, ack: 0 });
    expect(decodeUdp(cur(udp(0))).ok).toBe(true);
  });

  it('a length below 8 is malformed; 7 captured bytes are truncated', () => {
    expect(decodeUdp(cur(udp(7)))).toEqual(failure('udp', 'malformed', 'length 7'));
    expect(decodeUdp(cur(udp(8).slice(0, 7), 4))).toEqual(failure('udp', 'truncated', 'header needs 8 bytes, 7 captured'));
  });
});

// A quoted IPv4 header (total length as sent, only 8 bytes of upper layer quoted) and an IPv6 one.
const q4 = (proto: number, l4: number[], frag = 0) => [
  0x45,
  0,
  0,
  60,
  0,
  1,
  frag >> 8,
  frag & 0xff,
  64,
  proto,
  0,
  0,
  192,
  168,
  1,
  240,
  203,
  0,
  113,
  5,
  ...l4,
];
const q6 = (proto: number, l4: number[]) => [
  0x60,
  0,
  0,
  0,
  0,
  40,
  proto,
  64,
  0x20,
  0x01,
  0x0d,
  0xb8,
  ...new Array(11).fill(0),
  0x10,
  0x20,
  0x01,
  0x0d,
  0xb8,
  ...new Array(11).fill(0),
  0x20,
  ...l4,
];
const PORTS = [0x01, 0xbb, 0xc3, 0x51, 0, 0, 0, 1];
const icmp = (type: number, code: number, quote: number[] = []) => [type, code, 0xab, 0xcd, 0, 0, 0, 0, ...quote];

describe('ICMP and ICMPv6', () => {
  it('destination unreachable quotes the TCP packet it answers: addresses, protocol, ports', () => {
    expect(decodeIcmp(cur(icmp(3, 3, q4(6, PORTS))), false)).toEqual({
      ok: true,
      type: 3,
      code: 3,
      quoted: {
        family: 4,
        src: '192.168.1.240',
        dst: '203.0.113.5',
        src4: 0xc0a801f0,
        dst4: 0xcb007105,
        proto: 6,
        sport: 443,
        dport: 50001,
      },
    });
  });

  it('ICMPv6 destination unreachable quotes a UDP packet; only 4 bytes of it are enough', () => {
    expect(decodeIcmp(cur(icmp(1, 4, q6(17, PORTS.slice(0, 4))), 6), true)).toEqual({
      ok: true,
      type: 1,
      code: 4,
      quoted: { family: 6, src: '2001:db8::10', dst: '2001:db8::20', src4: null, dst4: null, proto: 17, sport: 443, dport: 50001 },
    });
  });

  it.each<[string, number[], boolean]>([
    ['ICMP fragmentation needed (3/4) is no answer', icmp(3, 4, q4(6, PORTS)), false],
    ['ICMP time exceeded', icmp(11, 0, q4(6, PORTS)), false],
    ['ICMP type 1 is not unreachable in IPv4', icmp(1, 0, q4(6, PORTS)), false],
    ['ICMPv6 time exceeded', icmp(3, 0, q6(6, PORTS)), true],
    ['ICMPv6 type 3 quoting IPv4 bytes', icmp(3, 3, q4(6, PORTS)), true],
    ['a quote of 3 upper-layer bytes', icmp(3, 1, q4(6, PORTS.slice(0, 3))), false],
    ['a quoted ICMP packet (no ports)', icmp(3, 1, q4(1, PORTS)), false],
    ['a quoted later fragment', icmp(3, 1, q4(17, PORTS, 0x0010)), false],
    ['a quote cut inside the IP header', icmp(3, 1, q4(6, PORTS).slice(0, 19)), false],
    ['an IPv4 quote in ICMPv6 unreachable', icmp(1, 0, q4(6, PORTS)), true],
  ])('%s: no quoted packet', (_n, bytes, v6) => {
    const r = decodeIcmp(cur(bytes, 40), v6);
    expect(r.ok && [r.type, r.quoted]).toEqual([bytes[0], null]);
  });

  it('4 captured bytes are a whole header with nothing quoted; 3 are truncated, in the layer of the family', () => {
    expect(decodeIcmp(cur([3, 1, 0, 0], 40), false)).toEqual({ ok: true, type: 3, code: 1, quoted: null });
    expect(decodeIcmp(cur([3, 1, 0], 8), false)).toEqual(failure('icmp', 'truncated', 'header needs 4 bytes, 3 captured'));
    expect(decodeIcmp(cur([1, 0, 0], 8), true)).toEqual(failure('icmpv6', 'truncated', 'header needs 4 bytes, 3 captured'));
  });
});

describe('ARP', () => {
  const arp = (htype: number, ptype: number, hlen: number, plen: number, op: number) => [
    htype >> 8,
    htype & 0xff,
    ptype >> 8,
    ptype & 0xff,
    hlen,
    plen,
    0,
    op,
    0x02,
    0,
    0,
    0,
    0,
    0x0b,
    192,
    168,
    1,
    254,
    0xaa,
    0xbb,
    0xcc,
    0xdd,
    0xee,
    0xff,
    192,
    168,
    1,
    240,
  ];

  it('reads an Ethernet/IPv4 reply (exactly 28 bytes)', () => {
    expect(decodeArp(cur(arp(1, 0x0800, 6, 4, 2), 18))).toEqual({
      ok: true,
      op: 2,
      senderMac: '02:00:00:00:00:0b',
      senderIp: '192.168.1.254',
      targetMac: 'aa:bb:cc:dd:ee:ff',
      targetIp: '192.168.1.240',
    });
  });

  it.each([
    ['protocol IPv6', arp(1, 0x86dd, 6, 4, 1), 'hardware/protocol 1/34525 lengths 6/4'],
    ['hardware length 8', arp(1, 0x0800, 8, 4, 1), 'hardware/protocol 1/2048 lengths 8/4'],
    ['protocol length 16', arp(6, 0x0800, 6, 16, 1), 'hardware/protocol 6/2048 lengths 6/16'],
  ])('%s is unsupported', (_n, bytes, detail) => {
    expect(decodeArp(cur(bytes))).toEqual(failure('arp', 'unsupported', detail));
  });

  it('27 bytes are truncated after the header checks; 7 before them', () => {
    expect(decodeArp(cur(arp(1, 0x0800, 6, 4, 1).slice(0, 27), 8))).toEqual(
      failure('arp', 'truncated', 'Ethernet/IPv4 ARP needs 28 bytes, 27 captured'),
    );
    expect(decodeArp(cur(arp(1, 0x0800, 6, 4, 1).slice(0, 8), 30))).toEqual(
      failure('arp', 'truncated', 'Ethernet/IPv4 ARP needs 28 bytes, 8 captured'),
    );
    expect(decodeArp(cur(arp(1, 0x0800, 6, 4, 1).slice(0, 7), 30))).toEqual(
      failure('arp', 'truncated', 'header needs 8 bytes, 7 captured'),
    );
  });
});

describe('neighbour discovery', () => {
  const TARGET = [0x20, 0x01, 0x0d, 0xb8, 0, 1, ...new Array(8).fill(0), 0x02, 0x40];
  const MAC = [0x02, 0, 0, 0, 0, 0x0b];
  const nd = (type: number, flags: number, options: number[] = [], code = 0) => [type, code, 0, 0, flags, 0, 0, 0, ...TARGET, ...options];
  const opt = (kind: number, value: number[]) => [kind, (value.length + 2) / 8, ...value];

  it('reads a solicitation with no options (exactly 24 bytes): no flags, no link-layer address', () => {
    expect(decodeNdp(cur(nd(135, 0xe0), 16))).toEqual({
      ok: true,
      type: 135,
      target: '2001:db8:1::240',
      router: false,
      solicited: false,
      override: false,
      lla: null,
    });
  });

  it.each([
    [0x80, [true, false, false]],
    [0x40, [false, true, false]],
    [0x20, [false, false, true]],
    [0x1f, [false, false, false]],
  ])('advertisement flags byte %i: router, solicited, override', (flags, expected) => {
    const r = decodeNdp(cur(nd(136, flags)));
    expect(r.ok && [r.router, r.solicited, r.override]).toEqual(expected);
  });

  it('takes the source address option in a solicitation and the target one in an advertisement, after other options', () => {
    const nonce = opt(14, [1, 2, 3, 4, 5, 6]);
    const r1 = decodeNdp(cur(nd(135, 0, [...nonce, ...opt(2, [9, 9, 9, 9, 9, 9]), ...opt(1, MAC)])));
    const r2 = decodeNdp(cur(nd(136, 0x60, [...opt(1, [9, 9, 9, 9, 9, 9]), ...opt(2, MAC), ...nonce])));
    expect([r1.ok && r1.lla, r2.ok && r2.lla]).toEqual(['02:00:00:00:00:0b', '02:00:00:00:00:0b']);
  });

  it('ignores the wrong kind of address option and one that is not 8 bytes', () => {
    const r1 = decodeNdp(cur(nd(135, 0, opt(2, MAC))));
    const r2 = decodeNdp(cur(nd(136, 0, opt(1, MAC))));
    const r3 = decodeNdp(cur(nd(135, 0, opt(1, [...MAC, ...new Array(8).fill(0)]))));
    expect([r1.ok && r1.lla, r2.ok && r2.lla, r3.ok && r3.lla]).toEqual([null, null, null]);
  });

  it('a single byte after the options is ignored; two bytes start an option that must fit', () => {
    const r = decodeNdp(cur(nd(135, 0, [...opt(1, MAC), 1]), 8));
    expect(r.ok && r.lla).toBe('02:00:00:00:00:0b');
    expect(decodeNdp(cur(nd(135, 0, [...opt(1, MAC), 1, 1]), 8))).toEqual(
      failure('icmpv6', 'truncated', 'option 1 needs 8 bytes, 2 captured'),
    );
    expect(decodeNdp(cur(nd(135, 0, [3, 4, 0, 0]), 8))).toEqual(failure('icmpv6', 'truncated', 'option 3 needs 32 bytes, 4 captured'));
  });

  it.each([
    ['23 bytes', nd(135, 0).slice(0, 23), failure('icmpv6', 'truncated', 'neighbour discovery needs 24 bytes, 23 captured')],
    ['a router advertisement', nd(134, 0), failure('icmpv6', 'unsupported', 'ICMPv6 type 134 is not neighbour discovery')],
    ['code 2', nd(136, 0, [], 2), failure('icmpv6', 'malformed', 'neighbour discovery code 2')],
    ['an option of length 0', nd(136, 0, [2, 0, ...MAC]), failure('icmpv6', 'malformed', 'option 2 with length 0')],
  ])('%s', (_n, bytes, expected) => {
    expect(decodeNdp(cur(bytes, 8))).toEqual(expected);
  });
});
