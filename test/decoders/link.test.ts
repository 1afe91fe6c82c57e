// Link-layer decoders field by field, on frames built by hand from the header layouts (tcpdump.org/linktypes, IEEE
// 802.1Q): every link type, the boundaries of each length check, typed failures with their detail, and a layer that
// starts inside the buffer (off > 0) and ends before it (capture shorter than the bytes behind it).

import { describe, expect, it } from 'vitest';
import { cursor } from '../../agent/decoders/cursor.js';
import { decodeLink, LINKTYPE, type LinkResult } from '../../agent/decoders/link.js';

const PAD = [0xee, 0xee, 0xee];
/** The frame placed after 3 bytes of junk, with `tail` junk bytes behind the captured end. */
function link(linktype: number, frame: number[], tail = 0): LinkResult {
  const buf = Uint8Array.from([...PAD, ...frame, ...new Array<number>(tail).fill(0x81)]);
  return decodeLink(linktype, cursor(buf, PAD.length, PAD.length + frame.length));
}
const next = (n: number) => PAD.length + n;
const failure = (reason: string, detail: string) => ({ ok: false, layer: 'link', reason, detail });

// SLL2: protocol(2) reserved(2) ifindex(4) hatype(2) pkttype(1) halen(1) address(8)
const sll2 = (proto: number, ifindex: number, pkttype: number, halen: number, addr: number[]) => [
  proto >> 8,
  proto & 0xff,
  0,
  0,
  ifindex >>> 24,
  (ifindex >> 16) & 0xff,
  (ifindex >> 8) & 0xff,
  ifindex & 0xff,
  0,
  1,
  pkttype,
  halen,
  ...addr,
];
// SLL v1: pkttype(2) hatype(2) halen(2) address(8) protocol(2)
const sll = (pkttype: number, halen: number, addr: number[], proto: number) => [
  pkttype >> 8,
  pkttype & 0xff,
  0,
  1,
  halen >> 8,
  halen & 0xff,
  ...addr,
  proto >> 8,
  proto & 0xff,
];
const MAC8 = [0x02, 0x42, 0xac, 0x11, 0x00, 0x0b, 0, 0];
const DST = [0x33, 0x33, 0, 0, 0, 1];
const SRC = [0x52, 0x54, 0x00, 0xab, 0xcd, 0xef];

describe('LINUX_SLL2', () => {
  it('reads protocol, ifindex above 2^31, direction and a 6-byte source MAC; the payload starts after 20 bytes', () => {
    expect(link(LINKTYPE.LINUX_SLL2, [...sll2(0x86dd, 0x80000003, 4, 6, MAC8), 0x60], 4)).toEqual({
      ok: true,
      ethertype: 0x86dd,
      next: next(20),
      ifindex: 0x80000003,
      direction: 'outgoing',
      srcMac: '02:42:ac:11:00:0b',
      vlans: [],
    });
  });

  it.each([
    [0, 'host'],
    [1, 'broadcast'],
    [2, 'multicast'],
    [3, 'otherhost'],
    [4, 'outgoing'],
    [5, 'unknown'],
    [255, 'unknown'],
  ])('packet type %i is %s', (pt, dir) => {
    const r = link(LINKTYPE.LINUX_SLL2, sll2(0x0800, 1, pt, 6, MAC8));
    expect(r.ok && r.direction).toBe(dir);
  });

  it('has no source MAC when the address is not 6 bytes (exactly 20 bytes captured)', () => {
    expect(link(LINKTYPE.LINUX_SLL2, sll2(0x0800, 7, 0, 0, new Array(8).fill(0)), 2)).toEqual({
      ok: true,
      ethertype: 0x0800,
      next: next(20),
      ifindex: 7,
      direction: 'host',
      srcMac: null,
      vlans: [],
    });
    const r = link(LINKTYPE.LINUX_SLL2, sll2(0x0800, 7, 0, 8, MAC8));
    expect(r.ok && r.srcMac).toBe(null);
  });

  it('19 captured bytes are truncated, whatever lies behind them', () => {
    expect(link(LINKTYPE.LINUX_SLL2, sll2(0x0800, 7, 0, 6, MAC8).slice(0, 19), 10)).toEqual(
      failure('truncated', 'SLL2 header needs 20 bytes, 19 captured'),
    );
  });
});

describe('LINUX_SLL (v1)', () => {
  it('reads direction, source MAC and protocol; no ifindex; the payload starts after 16 bytes', () => {
    expect(link(LINKTYPE.LINUX_SLL, [...sll(4, 6, MAC8, 0x0806), 0, 1], 3)).toEqual({
      ok: true,
      ethertype: 0x0806,
      next: next(16),
      ifindex: null,
      direction: 'outgoing',
      srcMac: '02:42:ac:11:00:0b',
      vlans: [],
    });
  });

  it('packet type above 4 is unknown; an address that is not 6 bytes gives no MAC', () => {
    expect(link(LINKTYPE.LINUX_SLL, sll(0x0103, 4, MAC8, 0x0800))).toEqual({
      ok: true,
      ethertype: 0x0800,
      next: next(16),
      ifindex: null,
      direction: 'unknown',
      srcMac: null,
      vlans: [],
    });
    const r = link(LINKTYPE.LINUX_SLL, sll(2, 0x0106, MAC8, 0x0800));
    expect(r.ok && [r.direction, r.srcMac]).toEqual(['multicast', null]);
  });

  it('a protocol below 0x0600 (802.2, 802.3 length) is no EtherType: -1; 0x0600 is one', () => {
    const at = (proto: number) => {
      const r = link(LINKTYPE.LINUX_SLL, sll(0, 6, MAC8, proto));
      return r.ok ? r.ethertype : r.reason;
    };
    expect([at(0x0004), at(0x05ff), at(0x0600)]).toEqual([-1, -1, 0x0600]);
  });

  it('15 captured bytes are truncated', () => {
    expect(link(LINKTYPE.LINUX_SLL, sll(0, 6, MAC8, 0x0800).slice(0, 15), 8)).toEqual(
      failure('truncated', 'SLL header needs 16 bytes, 15 captured'),
    );
  });
});

describe('Ethernet', () => {
  const eth = (type: number, tags: number[][] = []) => [...DST, ...SRC, ...tags.flat(), type >> 8, type & 0xff];
  const tag = (tpid: number, tci: number) => [tpid >> 8, tpid & 0xff, tci >> 8, tci & 0xff];

  it('reads the EtherType and source MAC of an untagged frame (exactly 14 bytes captured)', () => {
    expect(link(LINKTYPE.ETHERNET, eth(0x0800), 4)).toEqual({
      ok: true,
      ethertype: 0x0800,
      next: next(14),
      ifindex: null,
      direction: null,
      srcMac: '52:54:00:ab:cd:ef',
      vlans: [],
    });
  });

  it('reads 802.1ad, 802.1Q and 0x9100 tags in order: the VID is the low 12 bits of the TCI (PCP and DEI set)', () => {
    const frame = eth(0x86dd, [tag(0x88a8, 0xe00a), tag(0x9100, 0x1fff), tag(0x8100, 0x3123)]);
    expect(link(LINKTYPE.ETHERNET, [...frame, 0x60, 0], 2)).toEqual({
      ok: true,
      ethertype: 0x86dd,
      next: next(26),
      ifindex: null,
      direction: null,
      srcMac: '52:54:00:ab:cd:ef',
      vlans: [10, 0xfff, 0x123],
    });
  });

  it('a tag that ends exactly at the capture end is read; one byte short is truncated', () => {
    const frame = eth(0x0806, [tag(0x8100, 5)]);
    const r = link(LINKTYPE.ETHERNET, frame, 4);
    expect(r.ok && [r.ethertype, r.next, r.vlans]).toEqual([0x0806, next(18), [5]]);
    expect(link(LINKTYPE.ETHERNET, frame.slice(0, 17), 4)).toEqual(failure('truncated', 'VLAN tag cut off'));
  });

  it('8 tags are read, a 9th is malformed', () => {
    const tags = (n: number) => Array.from({ length: n }, (_x, i) => tag(0x8100, 100 + i));
    const r = link(LINKTYPE.ETHERNET, eth(0x0800, tags(8)));
    expect(r.ok && [r.ethertype, r.next, r.vlans]).toEqual([0x0800, next(14 + 32), [100, 101, 102, 103, 104, 105, 106, 107]]);
    expect(link(LINKTYPE.ETHERNET, eth(0x0800, tags(9)))).toEqual(failure('malformed', 'more than 8 VLAN tags'));
  });

  it('an 802.3 length field (below 0x0600) is no EtherType: -1, also behind a tag', () => {
    const r1 = link(LINKTYPE.ETHERNET, eth(0x05dc));
    const r2 = link(LINKTYPE.ETHERNET, eth(0x0026, [tag(0x8100, 7)]));
    const r3 = link(LINKTYPE.ETHERNET, eth(0x0600));
    expect([r1.ok && r1.ethertype, r2.ok && [r2.ethertype, r2.vlans], r3.ok && r3.ethertype]).toEqual([-1, [-1, [7]], 0x0600]);
  });

  it('13 captured bytes are truncated', () => {
    expect(link(LINKTYPE.ETHERNET, eth(0x0800).slice(0, 13), 6)).toEqual(
      failure('truncated', 'Ethernet header needs 14 bytes, 13 captured'),
    );
  });
});

describe('BSD loopback', () => {
  const le = (af: number) => [af & 0xff, (af >> 8) & 0xff, (af >> 16) & 0xff, af >>> 24];
  const be = (af: number) => [af >>> 24, (af >> 16) & 0xff, (af >> 8) & 0xff, af & 0xff];
  const type = (lt: number, head: number[]) => {
    const r = link(lt, [...head, 0x45], 2);
    return r.ok ? r.ethertype : r.reason;
  };

  it('LINKTYPE_NULL in host order: AF_INET 2, AF_INET6 10/24/28/30, anything else -1; the payload after 4 bytes', () => {
    expect([2, 10, 24, 28, 30, 1, 17, 0xffff].map((af) => type(LINKTYPE.NULL, le(af)))).toEqual([
      0x0800, 0x86dd, 0x86dd, 0x86dd, 0x86dd, -1, -1, -1,
    ]);
    expect(link(LINKTYPE.NULL, le(2))).toEqual({
      ok: true,
      ethertype: 0x0800,
      next: next(4),
      ifindex: null,
      direction: null,
      srcMac: null,
      vlans: [],
    });
  });

  it('LINKTYPE_NULL written on a big-endian host is read in network order', () => {
    expect([2, 24, 30].map((af) => type(LINKTYPE.NULL, be(af)))).toEqual([0x0800, 0x86dd, 0x86dd]);
  });

  it('LINKTYPE_LOOP is network order only: the same bytes little-endian are no address family', () => {
    expect([2, 28].map((af) => type(LINKTYPE.LOOP, be(af)))).toEqual([0x0800, 0x86dd]);
    expect([2, 28].map((af) => type(LINKTYPE.LOOP, le(af)))).toEqual([-1, -1]);
    const r = link(LINKTYPE.LOOP, be(10));
    expect(r.ok && r.next).toBe(next(4));
  });

  it('3 captured bytes are truncated', () => {
    for (const lt of [LINKTYPE.NULL, LINKTYPE.LOOP])
      expect(link(lt, [2, 0, 0], 5)).toEqual(failure('truncated', 'loopback header needs 4 bytes'));
  });
});

describe('raw IP link types', () => {
  const raw = (lt: number, frame: number[]) => link(lt, frame, 3);
  const ok = (ethertype: number) => ({ ok: true, ethertype, next: next(0), ifindex: null, direction: null, srcMac: null, vlans: [] });

  it('RAW and DLT 12/14 take the version nibble, even from a single captured byte', () => {
    for (const lt of [LINKTYPE.RAW, LINKTYPE.RAW_DLT12, LINKTYPE.RAW_DLT14]) {
      expect(raw(lt, [0x45])).toEqual(ok(0x0800));
      expect(raw(lt, [0x60, 0])).toEqual(ok(0x86dd));
      expect(raw(lt, [0x55, 0])).toEqual(ok(-1));
      expect(raw(lt, [0x04, 0])).toEqual(ok(-1));
    }
  });

  it('IPV4 and IPV6 link types force the family, whatever the nibble', () => {
    expect(raw(LINKTYPE.IPV4, [0x60])).toEqual(ok(0x0800));
    expect(raw(LINKTYPE.IPV6, [0x45])).toEqual(ok(0x86dd));
  });

  it('an empty capture is truncated', () => {
    for (const lt of [LINKTYPE.RAW, LINKTYPE.RAW_DLT12, LINKTYPE.RAW_DLT14, LINKTYPE.IPV4, LINKTYPE.IPV6])
      expect(link(lt, [], 4)).toEqual(failure('truncated', 'empty packet'));
  });
});

it('an unknown link type is unsupported, naming it', () => {
  expect(link(105, [0x45, 0, 0, 0])).toEqual({ ok: false, layer: 'link', reason: 'unsupported', detail: 'link type 105' });
});
