import { describe, expect, it } from 'vitest';
import { PcapStreamReader } from '../../agent/parsers/pcap.js';
import { readCaptureFile } from '../../agent/parsers/capture-file.js';
import { readPcapng } from '../../agent/parsers/pcapng.js';
import { decodePacket } from '../../agent/decoders/packet.js';
import { ipv4Packet, pcapFile, sll2, tcpSegment } from '../../bench/frames.js';

const FRAMES = [0, 1, 2, 3].map((i) =>
  sll2(
    0x0800,
    3,
    'host',
    ipv4Packet('203.0.113.5', '192.168.1.240', 6, tcpSegment({ src: '', dst: '', sport: 40000 + i, dport: 443, flags: 2, payload: i * 7 })),
  ),
);

function collect(file: Buffer, chunkSizes: number[]): { ports: number[]; fracs: number[]; error: string | null } {
  const ports: number[] = [];
  const fracs: number[] = [];
  let linktype = -1;
  const r = new PcapStreamReader(
    (buf, off, caplen, _len, _sec, frac) => {
      const d = decodePacket(linktype, buf, off, caplen);
      if (d.ok) ports.push(d.sport!);
      fracs.push(frac);
    },
    (h) => (linktype = h.linktype),
  );
  let pos = 0;
  let k = 0;
  while (pos < file.length) {
    const n = chunkSizes[k++ % chunkSizes.length]!;
    r.push(file.subarray(pos, pos + n));
    pos += n;
  }
  return { ports, fracs, error: r.finish()?.kind ?? null };
}

describe('PcapStreamReader', () => {
  it.each([
    ['little-endian, microseconds', {}],
    ['big-endian, microseconds', { bigEndian: true }],
    ['little-endian, nanoseconds', { nano: true }],
    ['big-endian, nanoseconds', { nano: true, bigEndian: true }],
  ])('%s, in every chunking', (_name, opts) => {
    const file = pcapFile(276, FRAMES, opts);
    for (const sizes of [[file.length], [1], [7], [16, 3], [23, 24, 25], [100]]) {
      expect(collect(file, sizes)).toEqual({ ports: [40000, 40001, 40002, 40003], fracs: [0, 1, 2, 3], error: null });
    }
  });

  it('rejects a record longer than the snapshot length or than the packet, keeping what came before', () => {
    const file = pcapFile(276, FRAMES, { snaplen: 67 }); // frames are 60, 67, 74, 81 bytes
    expect(collect(file, [file.length])).toEqual({ ports: [40000, 40001], fracs: [0, 1], error: 'caplen-exceeds-snaplen' });
    const bad = pcapFile(276, FRAMES);
    bad.writeUInt32LE(10, 24 + 16 + FRAMES[0]!.length + 12); // second record: len 10 < caplen
    expect(collect(bad, [5])).toMatchObject({ ports: [40000], error: 'caplen-exceeds-len' });
  });

  it('reports a file cut inside a record, or not a pcap at all', () => {
    const file = pcapFile(276, FRAMES);
    expect(collect(file.subarray(0, file.length - 3), [64])).toMatchObject({ ports: [40000, 40001, 40002], error: 'truncated-file' });
    expect(collect(Buffer.from('hello, this is not a capture file'), [8]).error).toBe('bad-magic');
    expect(collect(Buffer.alloc(10), [10]).error).toBe('truncated-file');
  });
});

describe('pcapng', () => {
  function block(type: number, body: number[]): number[] {
    const pad = (4 - (body.length % 4)) % 4;
    const total = 12 + body.length + pad;
    const le = (v: number) => [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff];
    return [...le(type), ...le(total), ...body, ...new Array(pad).fill(0), ...le(total)];
  }
  const le32 = (v: number) => [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff];
  const le16 = (v: number) => [v & 0xff, v >> 8];
  const shb = block(0x0a0d0d0a, [...le32(0x1a2b3c4d), ...le16(1), ...le16(0), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  const name = (n: string) => [
    ...le16(2),
    ...le16(n.length),
    ...Buffer.from(n),
    ...new Array((4 - (n.length % 4)) % 4).fill(0),
    0,
    0,
    0,
    0,
  ];
  const idb = (lt: number, n: string) => block(1, [...le16(lt), 0, 0, ...le32(0), ...name(n)]);
  const epb = (id: number, data: number[]) =>
    block(6, [...le32(id), ...le32(0), ...le32(0), ...le32(data.length), ...le32(data.length), ...data]);

  it('reads interfaces with names, enhanced and simple packet blocks', () => {
    const eth = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00, ...ipv4Packet('10.0.0.1', '10.0.0.2', 17, [0, 53, 0, 54, 0, 8, 0, 0])];
    const file = Buffer.from([
      ...shb,
      ...idb(1, 'eth1'),
      ...idb(276, 'any'),
      ...epb(0, eth),
      ...epb(1, FRAMES[0]!),
      ...block(3, [...le32(eth.length), ...eth]),
    ]);
    const seen: string[] = [];
    const r = readCaptureFile(file, (rec) => {
      const d = decodePacket(rec.linktype, rec.buf, rec.off, rec.caplen);
      seen.push(`${rec.ifaceName}:${d.ok ? `${d.src}.${d.sport}` : d.reason}`);
    });
    expect(r).toEqual({ format: 'pcapng', records: 3, error: null });
    expect(seen).toEqual(['eth1:10.0.0.1.53', 'any:203.0.113.5.40000', 'eth1:10.0.0.1.53']);
  });

  it('reads big-endian sections, if_tsresol and the snapshot length of simple packets', () => {
    const be32 = (v: number) => [(v >>> 24) & 0xff, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff];
    const be16 = (v: number) => [v >> 8, v & 0xff];
    const beBlock = (type: number, body: number[]) => [...be32(type), ...be32(12 + body.length), ...body, ...be32(12 + body.length)];
    const beShb = beBlock(0x0a0d0d0a, [...be32(0x1a2b3c4d), ...be16(1), ...be16(0), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    // if_tsresol 3 (milliseconds), snaplen 0 (none)
    const beIdb = beBlock(1, [...be16(276), 0, 0, ...be32(0), ...be16(9), ...be16(1), 3, 0, 0, 0, 0, 0, 0, 0]);
    const data = FRAMES[2]!;
    const pad = new Array((4 - (data.length % 4)) % 4).fill(0);
    const beEpb = beBlock(6, [...be32(0), ...be32(0), ...be32(1500), ...be32(data.length), ...be32(data.length), ...data, ...pad]);
    const got: Array<[number, number, number]> = [];
    const r = readCaptureFile(Buffer.from([...beShb, ...beIdb, ...beEpb]), (rec) => {
      const d = decodePacket(rec.linktype, rec.buf, rec.off, rec.caplen);
      got.push([rec.tsMs, rec.caplen, d.ok ? d.sport! : -1]);
    });
    expect(r).toEqual({ format: 'pcapng', records: 1, error: null });
    expect(got).toEqual([[1500, data.length, 40002]]);
    // Microsecond ticks by default; a simple packet is cut to the interface's snapshot length, and has no time.
    const snapIdb = block(1, [...le16(276), 0, 0, ...le32(40)]);
    const spb = block(3, [...le32(data.length), ...data]);
    const seen: Array<[number, number]> = [];
    expect(readCaptureFile(Buffer.from([...shb, ...snapIdb, ...spb]), (rec) => seen.push([rec.caplen, rec.len])).error).toBeNull();
    expect(seen).toEqual([[40, data.length]]);
  });

  it.each<[string, number[], string, RegExp]>([
    ['no section header', [...idb(1, 'eth0')], 'bad-magic', /not a pcapng file/],
    ['a bad byte-order magic', block(0x0a0d0d0a, [1, 2, 3, 4, 0, 1, 0, 0]), 'bad-magic', /byte-order magic/],
    ['a block length not a multiple of 4', [...shb, ...le32(1), ...le32(13), 0, ...le32(13)], 'bad-block', /block at byte \d+ has/],
    ['a block head cut short', [...shb, 1, 0, 0, 0, 12, 0], 'truncated-file', /file ended inside a block header/],
    ['an interface block too short', [...shb, ...block(1, [1, 0, 0, 0])], 'bad-block', /interface block at byte \d+ too short/],
    ['a packet block too short', [...shb, ...idb(1, 'eth0'), ...block(6, [0, 0, 0, 0])], 'bad-block', /packet block at byte \d+ too short/],
    [
      'a captured length past the block',
      [...shb, ...idb(1, 'eth0'), ...block(6, [...le32(0), ...le32(0), ...le32(0), ...le32(200), ...le32(200), 1, 2, 3, 4])],
      'bad-block',
      /./,
    ],
    [
      'a captured length above the original',
      [...shb, ...idb(1, 'eth0'), ...block(6, [...le32(0), ...le32(0), ...le32(0), ...le32(4), ...le32(2), 1, 2, 3, 4])],
      'caplen-exceeds-len',
      /captured length/,
    ],
    [
      'a simple packet before any interface',
      [...shb, ...block(3, [...le32(4), 1, 2, 3, 4])],
      'bad-interface',
      /simple packet block at byte \d+ before an/,
    ],
    ['a simple packet block too short', [...shb, ...idb(1, 'eth0'), ...block(3, [])], 'bad-block', /simple packet block at byte \d+ t/],
  ])('refuses %s', (_n, bytes, kind, message) => {
    let records = 0;
    const r = readPcapng(Buffer.from(bytes), () => records++);
    expect(r.error?.kind).toBe(kind);
    expect(r.error?.message).toMatch(message);
    expect(records).toBe(0);
  });

  it('refuses a packet for an undescribed interface and a block running past the end', () => {
    const r1 = readCaptureFile(Buffer.from([...shb, ...idb(1, 'eth0'), ...epb(3, [1, 2, 3])]), () => undefined);
    expect(r1.error?.message).toMatch(/names interface 3, 1 described/);
    const full = Buffer.from([...shb, ...idb(1, 'eth0'), ...epb(0, FRAMES[1]!)]);
    expect(readCaptureFile(full.subarray(0, full.length - 5), () => undefined).error?.kind).toBe('truncated-file');
  });
});
