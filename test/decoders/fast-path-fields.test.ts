// The fast path and the BGP port check field by field, on SLL2 frames built by hand from the header layouts (SLL2,
// RFC 791, RFC 9293, RFC 768): exact arguments handed to the flow matcher, every length boundary at which a frame is
// declined, and frames that start inside the buffer (off > 0) with bytes behind the captured end.

import { describe, expect, it } from 'vitest';
import { fastPathV4, sll2V4TcpHasPort, type V4PacketSink } from '../../agent/decoders/fast-path.js';
import { LINKTYPE } from '../../agent/decoders/link.js';

const OFF = 7;
interface Spec {
  ethertype?: number;
  ifindex?: number;
  pkttype?: number;
  vihl?: number;
  total?: number;
  frag?: number;
  proto?: number;
  options?: number[];
  l4: number[];
}
// SLL2(20) | IPv4(20 + options) | l4
function frame(s: Spec): number[] {
  const et = s.ethertype ?? 0x0800;
  const ifx = s.ifindex ?? 2;
  const options = s.options ?? [];
  const total = s.total ?? 20 + options.length + s.l4.length;
  const frag = s.frag ?? 0;
  return [
    et >> 8,
    et & 0xff,
    0,
    0,
    ifx >>> 24,
    (ifx >> 16) & 0xff,
    (ifx >> 8) & 0xff,
    ifx & 0xff,
    0,
    1,
    s.pkttype ?? 0,
    6,
    2,
    0,
    0,
    0,
    0,
    1,
    0,
    0,
    s.vihl ?? 0x45 + options.length / 4,
    0,
    total >> 8,
    total & 0xff,
    0,
    1,
    frag >> 8,
    frag & 0xff,
    64,
    s.proto ?? 6,
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
    ...s.l4,
  ];
}
const tcp = (sport: number, dport: number, doff = 5, flags = 0x18) => [
  sport >> 8,
  sport & 0xff,
  dport >> 8,
  dport & 0xff,
  0x80,
  0,
  0,
  1,
  0xff,
  0xff,
  0xff,
  0xfe,
  doff << 4,
  flags,
  0x10,
  0,
  0,
  0,
  0,
  0,
];
const udp = (sport: number, dport: number, len = 8) => [sport >> 8, sport & 0xff, dport >> 8, dport & 0xff, len >> 8, len & 0xff, 0, 0];

/** fastPathV4 on the frame at OFF with junk around it: what it returned and the calls it made. */
function fast(f: number[], caplen = f.length, linktype: number = LINKTYPE.LINUX_SLL2) {
  const calls: unknown[][] = [];
  const sink: V4PacketSink = { observeV4: (...a: unknown[]) => calls.push(a) };
  const buf = Uint8Array.from([...new Array<number>(OFF).fill(0x08), ...f, ...new Array<number>(24).fill(0x50)]);
  return { took: fastPathV4(linktype, buf, OFF, caplen, sink, 1234.5), calls };
}

describe('fastPathV4', () => {
  it('hands a TCP segment to the matcher: addresses and numbers above 2^31, flags, ifindex, outgoing, timestamp', () => {
    const r = fast(frame({ ifindex: 0x80000009, pkttype: 4, l4: tcp(50001, 443, 5, 0x12) }));
    expect(r).toEqual({
      took: true,
      calls: [[0xcb007105, 0xc0a801f0, 6, 50001, 443, 0x12, 0x80000009, true, 1234.5, 0x80000001, 0xfffffffe]],
    });
  });

  it('a UDP datagram (exactly 8 bytes, length 8 or 0) has flags, seq and ack 0; packet types other than 4 are not outgoing', () => {
    for (const [pkttype, len] of [
      [0, 8],
      [3, 0],
    ]) {
      const r = fast(frame({ pkttype, proto: 17, l4: udp(40000, 53, len) }));
      expect(r).toEqual({ took: true, calls: [[0xcb007105, 0xc0a801f0, 17, 40000, 53, 0, 2, false, 1234.5, 0, 0]] });
    }
  });

  it('a segment cut by the snapshot length (IP total length 272, 20 bytes of TCP captured) is taken', () => {
    const r = fast(frame({ total: 272, l4: tcp(1000, 2000) }));
    expect(r.took && r.calls[0]!.slice(0, 5)).toEqual([0xcb007105, 0xc0a801f0, 6, 1000, 2000]);
  });

  it('IP options move the upper layer; a first fragment (MF) and DF are taken', () => {
    for (const f of [
      frame({ options: [1, 1, 1, 0], l4: tcp(1000, 2000) }),
      frame({ frag: 0x2000, l4: tcp(1000, 2000) }),
      frame({ frag: 0x4000, l4: tcp(1000, 2000) }),
    ]) {
      const r = fast(f);
      expect(r.took && r.calls[0]!.slice(3, 5)).toEqual([1000, 2000]);
    }
  });

  it.each<[string, number[], number?, number?]>([
    ['Ethernet link type', frame({ l4: tcp(1, 2) }), undefined, LINKTYPE.ETHERNET],
    ['EtherType IPv6', frame({ ethertype: 0x86dd, l4: tcp(1, 2) })],
    ['EtherType 0x0801', frame({ ethertype: 0x0801, l4: tcp(1, 2) })],
    ['EtherType 0x0900', frame({ ethertype: 0x0900, l4: tcp(1, 2) })],
    ['IP version 6 behind EtherType IPv4', frame({ vihl: 0x65, l4: tcp(1, 2) })],
    ['IHL 4', frame({ vihl: 0x44, l4: tcp(1, 2) })],
    ['total length 19', frame({ total: 19, l4: tcp(1, 2) })],
    ['total length 0 (BIG TCP, left to the general path)', frame({ total: 0, l4: tcp(1, 2) })],
    ['options cut off', frame({ options: [1, 1, 1, 1, 1, 1, 1, 0], l4: [] }), 20 + 27],
    ['a later fragment', frame({ frag: 0x0001, l4: tcp(1, 2) })],
    ['ICMP', frame({ proto: 1, l4: [8, 0, 0, 0, 0, 0, 0, 0] })],
    ['39 captured bytes', frame({ l4: tcp(1, 2) }), 39],
    ['TCP with 19 bytes captured', frame({ l4: tcp(1, 2) }), 59],
    ['TCP with 19 bytes inside the IP total length', frame({ total: 39, l4: tcp(1, 2) })],
    ['TCP data offset 4', frame({ l4: tcp(1, 2, 4) })],
    ['UDP with 7 bytes captured', frame({ proto: 17, l4: udp(1, 2) }), 47],
    ['UDP with 7 bytes inside the IP total length', frame({ proto: 17, total: 27, l4: udp(1, 2) })],
    ['UDP length 7', frame({ proto: 17, l4: udp(1, 2, 7) })],
  ])('declines %s, calling nothing', (_n, f, caplen, linktype) => {
    expect(fast(f, caplen, linktype)).toEqual({ took: false, calls: [] });
  });
});

describe('sll2V4TcpHasPort', () => {
  const PORT = 0x12b3;
  const has = (f: number[], caplen = f.length, linktype: number = LINKTYPE.LINUX_SLL2, port = PORT) => {
    const buf = Uint8Array.from([...new Array<number>(OFF).fill(0x08), ...f, ...new Array<number>(24).fill(0x12)]);
    return sll2V4TcpHasPort(linktype, buf, OFF, caplen, port);
  };

  it('finds the port as source or destination, after IP options too, with 4 TCP bytes captured', () => {
    expect([has(frame({ l4: tcp(PORT, 443) })), has(frame({ l4: tcp(443, PORT) })), has(frame({ l4: tcp(443, 80) }))]).toEqual([
      true,
      true,
      false,
    ]);
    expect(has(frame({ options: [1, 1, 1, 0], l4: tcp(0xb312, PORT) }))).toBe(true);
    expect(has(frame({ options: [1, 1, 1, 0], l4: tcp(443, 80) }))).toBe(false);
    expect(has(frame({ l4: tcp(443, PORT) }), 44)).toBe(true);
  });

  it.each<[string, number[], number?, number?]>([
    ['Ethernet link type', frame({ l4: tcp(PORT, PORT) }), undefined, LINKTYPE.ETHERNET],
    ['EtherType IPv6', frame({ ethertype: 0x86dd, l4: tcp(PORT, PORT) })],
    ['EtherType 0x0801', frame({ ethertype: 0x0801, l4: tcp(PORT, PORT) })],
    ['EtherType 0x0900', frame({ ethertype: 0x0900, l4: tcp(PORT, PORT) })],
    ['UDP', frame({ proto: 17, l4: udp(PORT, PORT) })],
    ['39 captured bytes', frame({ l4: tcp(PORT, PORT) }), 39],
    ['3 TCP bytes captured', frame({ l4: tcp(PORT, PORT) }), 43],
    // IHL 1 and 4 put the "ports" at the IP identification and the source address: PORT is written there.
    ['IHL 1', [...frame({ vihl: 0x41, l4: tcp(PORT, PORT) }).slice(0, 24), 0x12, 0xb3, ...frame({ l4: tcp(PORT, PORT) }).slice(26)]],
    ['IHL 4', [...frame({ vihl: 0x44, l4: tcp(PORT, PORT) }).slice(0, 36), 0x12, 0xb3, ...frame({ l4: tcp(PORT, PORT) }).slice(38)]],
    ['IP version 6 behind EtherType IPv4', frame({ vihl: 0x65, l4: tcp(PORT, PORT) })],
  ])('is false for %s', (_n, f, caplen, linktype) => {
    expect(has(f, caplen, linktype)).toBe(false);
  });
});
