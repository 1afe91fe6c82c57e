// Builders of valid frames and pcap files, for the benchmark and the decoder tests.

export type Dir = 'host' | 'outgoing';

function ipv4Bytes(s: string): number[] {
  return s.split('.').map(Number);
}

function ipv6Bytes(s: string): number[] {
  const [h, t] = s.includes('::') ? s.split('::') : [s, ''];
  const hs = h ? h.split(':') : [];
  const ts = t ? t.split(':') : [];
  const groups = [...hs, ...new Array(8 - hs.length - ts.length).fill('0'), ...ts].map((g) => parseInt(g, 16));
  return groups.flatMap((g) => [g >> 8, g & 0xff]);
}

export interface TcpSpec {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  flags: number;
  seq?: number;
  ack?: number;
  payload?: number;
}

export function tcpSegment(t: TcpSpec): number[] {
  const seq = t.seq ?? 1000;
  const ack = t.ack ?? 0;
  return [
    t.sport >> 8,
    t.sport & 0xff,
    t.dport >> 8,
    t.dport & 0xff,
    seq >>> 24,
    (seq >> 16) & 0xff,
    (seq >> 8) & 0xff,
    seq & 0xff,
    ack >>> 24,
    (ack >> 16) & 0xff,
    (ack >> 8) & 0xff,
    ack & 0xff,
    0x50,
    t.flags,
    0xff,
    0xff,
    0,
    0,
    0,
    0,
    ...new Array(t.payload ?? 0).fill(0x61),
  ];
}

export function ipv4Packet(
  src: string,
  dst: string,
  proto: number,
  l4: number[],
  opts: { fragOffset?: number; more?: boolean; id?: number } = {},
): number[] {
  const total = 20 + l4.length;
  const frag = ((opts.more ? 0x2000 : 0) | (opts.fragOffset ?? 0)) & 0xffff;
  const id = opts.id ?? 1;
  return [
    0x45,
    0,
    total >> 8,
    total & 0xff,
    (id >> 8) & 0xff,
    id & 0xff,
    frag >> 8,
    frag & 0xff,
    64,
    proto,
    0,
    0,
    ...ipv4Bytes(src),
    ...ipv4Bytes(dst),
    ...l4,
  ];
}

export function ipv6Packet(src: string, dst: string, proto: number, l4: number[], ext: number[][] = []): number[] {
  // ext: each [nextHeaderOfThis, ...body]; chained in order, the last pointing at proto.
  const chain: number[] = [];
  let first = proto;
  if (ext.length) {
    first = ext[0]![0]!;
    ext.forEach((e, i) => {
      const next = i + 1 < ext.length ? ext[i + 1]![0]! : proto;
      const body = e.slice(1);
      chain.push(next, (body.length + 2) / 8 - 1, ...body);
    });
  }
  const plen = chain.length + l4.length;
  return [0x60, 0, 0, 0, plen >> 8, plen & 0xff, first, 64, ...ipv6Bytes(src), ...ipv6Bytes(dst), ...chain, ...l4];
}

export function sll2(ethertype: number, ifindex: number, dir: Dir, payload: number[]): number[] {
  const pt = dir === 'outgoing' ? 4 : 0;
  return [
    ethertype >> 8,
    ethertype & 0xff,
    0,
    0,
    ifindex >>> 24,
    (ifindex >> 16) & 0xff,
    (ifindex >> 8) & 0xff,
    ifindex & 0xff,
    0,
    1,
    pt,
    6,
    2,
    0,
    0,
    0,
    0,
    1,
    0,
    0,
    ...payload,
  ];
}

export function ethernet(ethertype: number, payload: number[], vlans: number[] = []): number[] {
  const tags = vlans.flatMap((v, i) => [
    i === 0 && vlans.length > 1 ? 0x88 : 0x81,
    i === 0 && vlans.length > 1 ? 0xa8 : 0x00,
    v >> 8,
    v & 0xff,
  ]);
  return [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, ...tags, ethertype >> 8, ethertype & 0xff, ...payload];
}

export function arpRequest(senderIp: string, targetIp: string): number[] {
  return [0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, ...ipv4Bytes(senderIp), 0, 0, 0, 0, 0, 0, ...ipv4Bytes(targetIp)];
}

/** A classic pcap file (little-endian, microseconds unless `nano`). */
export function pcapFile(
  linktype: number,
  frames: number[][] | Buffer[],
  opts: { snaplen?: number; nano?: boolean; bigEndian?: boolean } = {},
): Buffer {
  const be = opts.bigEndian === true;
  const head = Buffer.alloc(24);
  const w32 = (b: Buffer, v: number, o: number) => (be ? b.writeUInt32BE(v >>> 0, o) : b.writeUInt32LE(v >>> 0, o));
  const w16 = (b: Buffer, v: number, o: number) => (be ? b.writeUInt16BE(v, o) : b.writeUInt16LE(v, o));
  w32(head, opts.nano ? 0xa1b23c4d : 0xa1b2c3d4, 0);
  w16(head, 2, 4);
  w16(head, 4, 6);
  w32(head, opts.snaplen ?? 262144, 16);
  w32(head, linktype, 20);
  const parts: Buffer[] = [head];
  frames.forEach((f, i) => {
    const data = Buffer.isBuffer(f) ? f : Buffer.from(f);
    const rh = Buffer.alloc(16);
    w32(rh, 1_700_000_000 + i, 0);
    w32(rh, i, 4);
    w32(rh, data.length, 8);
    w32(rh, data.length, 12);
    parts.push(rh, data);
  });
  return Buffer.concat(parts);
}
