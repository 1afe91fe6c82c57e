import { describe, expect, it } from 'vitest';
import { readCaptureFile, readCaptureStream } from '../../agent/parsers/capture-file.js';

// Classic pcap (pcap-savefile(5)) and pcapng (draft-ietf-opsawg-pcapng) files written byte by byte, little-endian.
const le16 = (v: number) => [v & 0xff, (v >> 8) & 0xff];
const le32 = (v: number) => [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff];

function pcap(linktype: number, nano: boolean, recs: Array<[number, number, number[]]>): Buffer {
  const head = [...le32(nano ? 0xa1b23c4d : 0xa1b2c3d4), ...le16(2), ...le16(4), ...le32(0), ...le32(0), ...le32(65535), ...le32(linktype)];
  return Buffer.from([
    ...head,
    ...recs.flatMap(([sec, frac, data]) => [...le32(sec), ...le32(frac), ...le32(data.length), ...le32(data.length), ...data]),
  ]);
}

function block(type: number, body: number[]): number[] {
  return [...le32(type), ...le32(12 + body.length), ...body, ...le32(12 + body.length)];
}
const SHB = block(0x0a0d0d0a, [...le32(0x1a2b3c4d), ...le16(1), ...le16(0), ...new Array(8).fill(0xff)]);
// IDB with if_name (4 bytes) and opt_endofopt.
const idb = (linktype: number, name: string) =>
  block(1, [...le16(linktype), 0, 0, ...le32(0), ...le16(2), ...le16(4), ...Buffer.from(name), 0, 0, 0, 0]);
const epb = (id: number, tsLow: number, data: number[]) =>
  block(6, [...le32(id), ...le32(0), ...le32(tsLow), ...le32(data.length), ...le32(data.length), ...data]);
const PCAPNG = Buffer.from([
  ...SHB,
  ...idb(1, 'eth0'),
  ...idb(276, 'any0'),
  ...epb(1, 2_500_000, [1, 2, 3, 4]),
  ...epb(0, 7, [5, 6, 7, 8]),
]);

const D1 = [1, 2, 3, 4, 5, 6, 7, 8];
const D2 = [9, 10, 11, 12];
const PCAP_US = pcap(1, false, [
  [1_700_000_000, 250_000, D1],
  [1_700_000_001, 1, D2],
]);
const PCAP_NS = pcap(276, true, [[2, 500_000_000, D1]]);

type Row = [number, number[], number, number, string | null, number | null];

// The source hands out one buffer, overwritten for each chunk (as a stream reusing its memory), and counts pulls.
function source(file: Buffer, size: number) {
  const state = { pulls: 0, after: 0 };
  const shared = Buffer.alloc(size);
  const it: AsyncIterator<Buffer> = {
    next: async () => {
      const o = state.pulls++ * size;
      if (o >= file.length) {
        if (o >= file.length + size) state.after++;
        return { done: true, value: undefined };
      }
      const n = file.copy(shared, 0, o, Math.min(o + size, file.length));
      return { done: false, value: shared.subarray(0, n) };
    },
  };
  return { state, chunks: { [Symbol.asyncIterator]: () => it } };
}

async function stream(file: Buffer, size: number) {
  const rows: Row[] = [];
  const src = source(file, size);
  const r = await readCaptureStream(src.chunks, (lt, buf, off, caplen, len, tsMs, name, idx) => {
    expect(len).toBe(caplen);
    rows.push([lt, [...buf.subarray(off, off + caplen)], tsMs, caplen, name, idx]);
  });
  return { r, rows, ...src.state };
}

describe('readCaptureStream', () => {
  it.each([1, 2, 3, 4, 5, 16, 4096])('reads classic pcap in chunks of %i bytes, with times in ms', async (size) => {
    const us = await stream(PCAP_US, size);
    expect(us.r).toEqual({ format: 'pcap', records: 2, error: null });
    expect(us.rows).toEqual([
      [1, D1, 1_700_000_000_250, 8, null, null],
      [1, D2, 1_700_000_001_000.001, 4, null, null],
    ]);
    const ns = await stream(PCAP_NS, size);
    expect(ns.rows).toEqual([[276, D1, 2500, 8, null, null]]);
    expect(us.after + ns.after).toBe(0);
  });

  it.each([1, 3, 4, 7, 4096])('reads pcapng whole in chunks of %i bytes, with interface names and indexes', async (size) => {
    const s = await stream(PCAPNG, size);
    expect(s.r).toEqual({ format: 'pcapng', records: 2, error: null });
    expect(s.rows).toEqual([
      [276, [1, 2, 3, 4], 2500, 4, 'any0', 1],
      [1, [5, 6, 7, 8], 0.007, 4, 'eth0', 0],
    ]);
    expect(s.after).toBe(0);
  });

  it('stops pulling chunks after a format error, keeping the records before it', async () => {
    const bad = Buffer.from(PCAP_US);
    bad.writeUInt32LE(70_000, 24 + 16 + 8 + 8); // second record: captured length above the snapshot length
    const withTail = Buffer.concat([bad, Buffer.alloc(200)]);
    const s = await stream(withTail, 50);
    expect(s.r.records).toBe(1);
    expect(s.r.error?.kind).toBe('caplen-exceeds-snaplen');
    // The error comes with the second of six chunks; at most the loop's next step is pulled after it.
    expect(s.pulls).toBeLessThanOrEqual(3);
  });

  it.each([
    [0, 'file ended inside the 24-byte header (0 bytes)'],
    [3, 'file ended inside the 24-byte header (3 bytes)'],
    [23, 'file ended inside the 24-byte header (23 bytes)'],
  ])('reports a stream of %i bytes as a cut pcap header, pulling no chunk after the end', async (n, message) => {
    for (const size of [1, 2, 64]) {
      const s = await stream(PCAP_US.subarray(0, n), size);
      expect(s.r).toMatchObject({ format: 'pcap', records: 0 });
      expect(s.r.error?.message).toBe(message);
      expect(s.after).toBe(0);
    }
  });

  it('reports a pcapng stream cut inside a block', async () => {
    const s = await stream(PCAPNG.subarray(0, PCAPNG.length - 2), 5);
    expect(s.r.format).toBe('pcapng');
    expect(s.r.records).toBe(1);
    expect(s.r.error?.kind).toBe('truncated-file');
  });
});

describe('readCaptureFile', () => {
  it('gives pcap records their link type and time, and no interface', () => {
    const recs: unknown[] = [];
    expect(readCaptureFile(PCAP_NS, (r) => recs.push(r))).toEqual({ format: 'pcap', records: 1, error: null });
    expect(recs).toEqual([{ linktype: 276, buf: PCAP_NS, off: 40, caplen: 8, len: 8, ifaceName: null, ifaceIndex: null, tsMs: 2500 }]);
  });

  it('tells pcapng by its first four bytes only', () => {
    expect(readCaptureFile(PCAPNG, () => undefined).format).toBe('pcapng');
    expect(readCaptureFile(Buffer.from([0x0a, 0x0d, 0x0d]), () => undefined)).toMatchObject({ format: 'pcap' });
    expect(readCaptureFile(Buffer.alloc(0), () => undefined).error?.kind).toBe('truncated-file');
  });
});
