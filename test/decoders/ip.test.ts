// IPv4 (RFC 791) and IPv6 (RFC 8200) decoders field by field, on headers built by hand: options, fragments, every
// extension header kind and its length unit, the 16-header cap, the boundaries of each length check, and the upper
// layer's [next, end) clipped to both the IP length and the captured bytes.

import { describe, expect, it } from 'vitest';
import { cursor } from '../../agent/decoders/cursor.js';
import { decodeIpv4, decodeIpv6, type IpResult } from '../../agent/decoders/ip.js';

const PAD = [0xee, 0xee, 0xee, 0xee, 0xee];
const at = (n: number) => PAD.length + n;
function run(decode: (c: ReturnType<typeof cursor>) => IpResult, bytes: number[], tail: number): IpResult {
  const buf = Uint8Array.from([...PAD, ...bytes, ...new Array<number>(tail).fill(0x3c)]);
  return decode(cursor(buf, PAD.length, PAD.length + bytes.length));
}
const v4 = (bytes: number[], tail = 0) => run(decodeIpv4, bytes, tail);
const v6 = (bytes: number[], tail = 0) => run(decodeIpv6, bytes, tail);
const failure = (layer: string, reason: string, detail: string) => ({ ok: false, layer, reason, detail });

// 0 ver/IHL, tos, total(2) | 4 id(2), flags/offset(2) | 8 ttl, proto, checksum(2) | 12 src | 16 dst | options
function ipv4(o: { ihl?: number; total?: number; frag?: number; ttl?: number; proto?: number; options?: number[]; body?: number[] }) {
  const options = o.options ?? [];
  const body = o.body ?? [];
  const ihl = o.ihl ?? 5 + options.length / 4;
  const total = o.total ?? 20 + options.length + body.length;
  const frag = o.frag ?? 0;
  return [
    0x40 | ihl,
    0,
    total >> 8,
    total & 0xff,
    0x12,
    0x34,
    frag >> 8,
    frag & 0xff,
    o.ttl ?? 64,
    o.proto ?? 6,
    0,
    0,
    203,
    0,
    113,
    5,
    192,
    168,
    1,
    240,
    ...options,
    ...body,
  ];
}

describe('IPv4', () => {
  it('reads addresses (text and unsigned 32-bit), protocol and TTL; the upper layer is [header end, total length)', () => {
    // 6 bytes of Ethernet padding behind the 28-byte datagram are not part of it.
    expect(v4([...ipv4({ ttl: 3, proto: 17, body: [1, 2, 3, 4, 0, 8, 0, 0] }), 0, 0, 0, 0, 0, 0], 5)).toEqual({
      ok: true,
      family: 4,
      src: '203.0.113.5',
      dst: '192.168.1.240',
      src4: 0xcb007105,
      dst4: 0xc0a801f0,
      proto: 17,
      hasL4: true,
      fragment: false,
      next: at(20),
      end: at(28),
      ttl: 3,
    });
  });

  it('options move the upper layer; a total length beyond the capture is clipped to what was captured', () => {
    const r = v4(ipv4({ options: [1, 1, 1, 0, 0x94, 4, 0, 0], total: 1500, body: [9, 9] }), 7);
    expect(r.ok && [r.next, r.end]).toEqual([at(28), at(30)]);
  });

  it('exactly 20 bytes with total length 20: no payload, not truncated', () => {
    const r = v4(ipv4({}), 4);
    expect(r.ok && [r.next, r.end, r.hasL4]).toEqual([at(20), at(20), true]);
  });

  it('total length 0 (TSO/BIG TCP) reads to the capture end', () => {
    const r = v4(ipv4({ total: 0, body: new Array(30).fill(1) }), 9);
    expect(r.ok && [r.next, r.end]).toEqual([at(20), at(50)]);
  });

  it.each([
    ['DF set, offset 0', 0x4000, true, false],
    ['first fragment (MF, offset 0)', 0x2000, true, true],
    ['middle fragment (MF, offset 185)', 0x20b9, false, true],
    ['last fragment (offset 185, no MF)', 0x00b9, false, true],
    ['DF and offset 1', 0x4001, false, true],
  ])('%s: hasL4 %s, fragment %s', (_n, frag, hasL4, fragment) => {
    const r = v4(ipv4({ frag, body: new Array(8).fill(0) }));
    expect(r.ok && [r.hasL4, r.fragment]).toEqual([hasL4, fragment]);
  });

  it('options exactly captured are read; cut off they are truncated', () => {
    const h = ipv4({ options: [1, 1, 1, 1, 1, 1, 1, 0] });
    const r = v4(h, 3);
    expect(r.ok && [r.next, r.end]).toEqual([at(28), at(28)]);
    expect(v4(h.slice(0, 26), 3)).toEqual(failure('ipv4', 'truncated', 'options cut off (28 bytes, 26 captured)'));
  });

  it.each<[string, number[], number, object]>([
    ['19 bytes', ipv4({}).slice(0, 19), 8, failure('ipv4', 'truncated', 'header needs 20 bytes, 19 captured')],
    ['version 6', [0x65, ...ipv4({}).slice(1)], 0, failure('ipv4', 'malformed', 'version 6')],
    ['version 0', [0x05, ...ipv4({}).slice(1)], 0, failure('ipv4', 'malformed', 'version 0')],
    ['IHL 4', ipv4({ ihl: 4 }), 0, failure('ipv4', 'malformed', 'header length 16')],
    ['total length 19', ipv4({ total: 19 }), 0, failure('ipv4', 'malformed', 'total length 19 < header length 20')],
    [
      'total length 20 below IHL 6',
      ipv4({ ihl: 6, total: 20, options: [0, 0, 0, 0] }),
      0,
      failure('ipv4', 'malformed', 'total length 20 < header length 24'),
    ],
  ])('%s', (_n, bytes, tail, expected) => {
    expect(v4(bytes, tail)).toEqual(expected);
  });
});

const SRC6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0x0c, ...new Array(9).fill(0), 5];
const DST6 = [0xfe, 0x80, ...new Array(13).fill(0), 1];
function ipv6(nh: number, rest: number[], plen = rest.length, hop = 64) {
  return [0x60, 0x01, 0x23, 0x45, plen >> 8, plen & 0xff, nh, hop, ...SRC6, ...DST6, ...rest];
}
/** An extension header of `units` 8-octet units after the first (RFC 8200 Hdr Ext Len). */
const ext = (next: number, units: number) => [next, units, ...new Array(6 + 8 * units).fill(1)];
/** AH (RFC 4302): Payload Len in 4-octet units minus 2. */
const ah = (next: number, words: number) => [next, words - 2, ...new Array(4 * words - 2).fill(2)];
const frag = (next: number, offset: number, more: boolean) => [next, 0, offset >> 5, ((offset & 0x1f) << 3) | (more ? 1 : 0), 0, 0, 0, 9];
const TCP = new Array(20).fill(0);

describe('IPv6', () => {
  it('reads addresses, next header and hop limit; the upper layer is [40, 40 + payload length)', () => {
    expect(v6([...ipv6(6, TCP), 0, 0, 0], 6)).toEqual({
      ok: true,
      family: 6,
      src: '2001:db8:c::5',
      dst: 'fe80::1',
      src4: null,
      dst4: null,
      proto: 6,
      hasL4: true,
      fragment: false,
      next: at(40),
      end: at(60),
      ttl: 64,
    });
  });

  it('a payload length beyond the capture is clipped; payload length 0 (jumbogram) reads to the capture end', () => {
    const a = v6(ipv6(17, new Array(12).fill(0), 1000, 1), 4);
    const b = v6(ipv6(17, new Array(12).fill(0), 0), 4);
    expect([a.ok && [a.end, a.ttl], b.ok && b.end]).toEqual([[at(52), 1], at(52)]);
  });

  it('exactly 40 bytes, no next header: no upper layer', () => {
    const r = v6(ipv6(59, []), 8);
    expect(r.ok && [r.proto, r.hasL4, r.next, r.end]).toEqual([59, false, at(40), at(40)]);
  });

  it('walks hop-by-hop, routing, destination options and mobility headers in their 8-octet units', () => {
    const chain = [...ext(43, 0), ...ext(60, 2), ...ext(135, 1), ...ext(6, 0)];
    const r = v6(ipv6(0, [...chain, ...TCP]), 5);
    expect(r.ok && [r.proto, r.hasL4, r.fragment, r.next, r.end]).toEqual([6, true, false, at(40 + 8 + 24 + 16 + 8), at(40 + 56 + 20)]);
  });

  it('walks AH in 4-octet units minus 2', () => {
    const r = v6(ipv6(51, [...ah(51, 6), ...ah(6, 3), ...TCP]));
    expect(r.ok && [r.proto, r.next]).toEqual([6, at(40 + 24 + 12)]);
  });

  it('a first fragment has its upper layer, a later one has not', () => {
    const first = v6(ipv6(44, [...frag(6, 0, true), ...TCP]));
    const later = v6(ipv6(0, [...ext(44, 0), ...frag(6, 1, false), ...TCP]));
    expect(first.ok && [first.proto, first.hasL4, first.fragment, first.next]).toEqual([6, true, true, at(48)]);
    expect(later.ok && [later.proto, later.hasL4, later.fragment, later.next]).toEqual([6, false, true, at(56)]);
  });

  it('ESP and no-next-header end the walk with no upper layer', () => {
    const esp = v6(ipv6(60, [...ext(50, 0), 0, 0, 1, 0, 0, 0, 0, 1]));
    const none = v6(ipv6(0, ext(59, 0)));
    expect(esp.ok && [esp.proto, esp.hasL4, esp.next]).toEqual([50, false, at(48)]);
    expect(none.ok && [none.proto, none.hasL4, none.next, none.end]).toEqual([59, false, at(48), at(48)]);
  });

  it('headers ending exactly at the payload end are read (generic, AH, fragment)', () => {
    for (const [nh, h] of [
      [60, ext(59, 1)],
      [51, ah(59, 4)],
      [44, frag(59, 0, false)],
    ] as const) {
      const r = v6(ipv6(nh, [...h]), 6);
      expect(r.ok && [r.proto, r.next, r.end]).toEqual([59, at(40 + h.length), at(40 + h.length)]);
    }
  });

  it('16 extension headers are walked, a 17th is malformed whatever its kind', () => {
    const chain = (n: number, last: number) => Array.from({ length: n }, (_x, i) => ext(i === n - 1 ? last : 60, 0)).flat();
    const r = v6(ipv6(60, [...chain(16, 17), 0, 0, 0, 0, 0, 8, 0, 0]));
    expect(r.ok && [r.proto, r.next]).toEqual([17, at(40 + 128)]);
    expect(v6(ipv6(60, [...chain(16, 60), ...ext(17, 0)]))).toEqual(failure('ipv6', 'malformed', 'more than 16 extension headers'));
    expect(v6(ipv6(60, [...chain(16, 44), ...frag(17, 0, false)]))).toEqual(failure('ipv6', 'malformed', 'more than 16 extension headers'));
    expect(v6(ipv6(60, [...chain(16, 51), ...ah(17, 4)]))).toEqual(failure('ipv6', 'malformed', 'more than 16 extension headers'));
  });

  it.each<[string, number[], number, object]>([
    ['39 bytes', ipv6(59, []).slice(0, 39), 8, failure('ipv6', 'truncated', 'header needs 40 bytes, 39 captured')],
    ['version 4', [0x45, ...ipv6(59, []).slice(1)], 0, failure('ipv6', 'malformed', 'version 4')],
    ['hop-by-hop with 7 bytes left', ipv6(0, ext(6, 0)).slice(0, 47), 8, failure('ipv6', 'truncated', 'extension header 0 cut off')],
    [
      'routing header longer than the payload',
      ipv6(43, ext(6, 1)).slice(0, 55),
      8,
      failure('ipv6', 'truncated', 'extension header 43 (16 bytes) cut off'),
    ],
    ['AH longer than the payload', ipv6(51, ah(6, 4), 12), 8, failure('ipv6', 'truncated', 'extension header 51 (16 bytes) cut off')],
    [
      'fragment header with 7 bytes left',
      ipv6(44, frag(6, 0, false)).slice(0, 47),
      8,
      failure('ipv6', 'truncated', 'fragment header cut off'),
    ],
    ['fragment header past the payload length', ipv6(44, frag(6, 0, false), 4), 8, failure('ipv6', 'truncated', 'fragment header cut off')],
  ])('%s', (_n, bytes, tail, expected) => {
    expect(v6(bytes, tail)).toEqual(expected);
  });
});
