import { describe, expect, it } from 'vitest';
import { PcapFormatError, PcapStreamReader, parsePcapHeader } from '../../agent/parsers/pcap.js';

// Files written from the savefile format (pcap-savefile(5), draft-ietf-opsawg-pcap): a 24-byte header (magic,
// version 2.4, two reserved words, snaplen, link type) in the writer's byte order, then records of ts seconds(4),
// ts fraction(4), captured length(4), original length(4) and the data.
interface Rec {
  sec: number;
  frac: number;
  data: number[];
  len?: number;
}

function w32(v: number, be: boolean): number[] {
  const b = [v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
  return be ? b : b.reverse();
}
const w16 = (v: number, be: boolean) => (be ? [v >> 8, v & 0xff] : [v & 0xff, v >> 8]);

function header(o: { be?: boolean; nano?: boolean; snaplen?: number; linktype?: number } = {}): number[] {
  const be = o.be ?? false;
  const magic = o.nano ? 0xa1b23c4d : 0xa1b2c3d4;
  return [
    ...w32(magic, be),
    ...w16(2, be),
    ...w16(4, be),
    ...w32(0, be),
    ...w32(0, be),
    ...w32(o.snaplen ?? 65535, be),
    ...w32(o.linktype ?? 1, be),
  ];
}

function record(r: Rec, be = false): number[] {
  return [...w32(r.sec, be), ...w32(r.frac, be), ...w32(r.data.length, be), ...w32(r.len ?? r.data.length, be), ...r.data];
}

const bytes = (n: number, seed: number) => Array.from({ length: n }, (_, i) => (seed + i) & 0xff);
// Seconds above 2^24 (2023-11-14) so the top byte of every word is used.
const RECS: Rec[] = [
  { sec: 1_700_000_000, frac: 999_999, data: bytes(60, 1) },
  { sec: 1_700_000_001, frac: 0, data: [] },
  { sec: 0xfedcba98, frac: 123_456_789, data: bytes(33, 7) },
];

// Pushes the file in chunks of the given sizes (cycled); returns every push's answer with what the sink saw.
function feed(file: number[], sizes: number[], withHeaderCallback = true) {
  const got: Rec[] = [];
  const sink = (buf: Buffer, off: number, caplen: number, len: number, sec: number, frac: number) =>
    got.push({ sec, frac, data: [...buf.subarray(off, off + caplen)], len });
  const r = withHeaderCallback ? new PcapStreamReader(sink, () => undefined) : new PcapStreamReader(sink);
  const answers: Array<string | null> = [];
  const buf = Buffer.from(file);
  for (let pos = 0, k = 0; pos < buf.length; k++) {
    const n = sizes[k % sizes.length]!;
    answers.push(r.push(buf.subarray(pos, pos + n))?.kind ?? null);
    pos += n;
  }
  const end = r.finish();
  return { got, answers, reader: r, kind: end?.kind ?? null, message: end?.message ?? '' };
}

const expected = (recs: Rec[]) => recs.map((r) => ({ ...r, len: r.len ?? r.data.length }));

describe('parsePcapHeader', () => {
  it.each([
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ])('reads the header written big-endian=%s, nanoseconds=%s', (be, nano) => {
    // The link type's upper 16 bits carry FCS information, not the link type.
    expect(parsePcapHeader(Buffer.from(header({ be, nano, snaplen: 262144, linktype: 0x10000114 })))).toStrictEqual({
      littleEndian: !be,
      nanoseconds: nano,
      versionMajor: 2,
      versionMinor: 4,
      snaplen: 262144,
      linktype: 276,
    });
  });

  it('names a wrong magic in full hex, and sends pcapng to the file reader', () => {
    const bad = parsePcapHeader(Buffer.from([0, 0, 0xab, 0xcd, ...new Array(20).fill(0)]));
    expect(bad).toBeInstanceOf(PcapFormatError);
    expect(bad).toMatchObject({ name: 'PcapFormatError', kind: 'bad-magic', message: 'not a pcap file (magic 0x0000abcd)' });
    const ng = parsePcapHeader(Buffer.from([0x0a, 0x0d, 0x0d, 0x0a, ...new Array(20).fill(0)]));
    expect(ng).toMatchObject({ kind: 'pcapng-on-stream', message: expect.stringMatching(/pcapng file.*readCaptureFile/) });
  });
});

describe('PcapStreamReader records', () => {
  it.each([false, true])('gives seconds and fractions above 2^24 unchanged (big-endian=%s), in any chunking', (be) => {
    const file = [...header({ be }), ...RECS.flatMap((r) => record(r, be))];
    for (const sizes of [[file.length], [1], [5], [16], [17, 3], [24, 16, 60]]) {
      const r = feed(file, sizes);
      expect(r.got).toEqual(expected(RECS));
      expect(r.kind).toBeNull();
      expect(r.answers.every((a) => a === null)).toBe(true);
      expect(r.reader.records).toBe(3);
      expect(r.reader.bytes).toBe(file.length);
    }
  });

  it('reads a file that is only a header, and works without a header callback', () => {
    const only = feed(header(), [24]);
    expect([only.got, only.kind, only.reader.header?.snaplen]).toEqual([[], null, 65535]);
    const file = [...header(), ...record(RECS[0]!)];
    expect(feed(file, [file.length], false).got).toEqual(expected(RECS.slice(0, 1)));
  });

  it('takes a snapshot length of 0 as no limit', () => {
    const file = [...header({ snaplen: 0 }), ...RECS.flatMap((r) => record(r))];
    expect(feed(file, [file.length]).got).toEqual(expected(RECS));
    expect(feed(file, [9]).got).toEqual(expected(RECS));
  });

  it('delivers an empty record whose header is split across chunks', () => {
    const empty: Rec = { sec: 5, frac: 6, data: [], len: 60 };
    const file = [...header(), ...record(empty), ...record(RECS[0]!)];
    for (const sizes of [[32, 8], [24, 16], [file.length], [3]]) {
      const r = feed(file, sizes);
      expect(r.got).toEqual(expected([empty, RECS[0]!]));
      expect(r.reader.bytes).toBe(file.length);
      expect(r.kind).toBeNull();
    }
  });

  it('takes a record exactly as long as the snapshot length', () => {
    const rec: Rec = { sec: 1, frac: 2, data: bytes(64, 3), len: 1500 };
    const file = [...header({ snaplen: 64 }), ...record(rec)];
    for (const sizes of [[file.length], [7], [40, 1]]) expect(feed(file, sizes).got).toEqual([rec]);
  });
});

describe('PcapStreamReader errors', () => {
  const tooLong: Rec = { sec: 1, frac: 0, data: bytes(65, 0) };
  const lenBelowCaplen: Rec = { sec: 1, frac: 0, data: bytes(10, 0), len: 9 };

  it('answers the push that meets a bad record, in place or with its header split', () => {
    const file = [...header({ snaplen: 64 }), ...record(RECS[0]!), ...record(tooLong)];
    const whole = feed(file, [file.length]);
    expect(whole.answers).toEqual(['caplen-exceeds-snaplen']);
    // 24 + 76 bytes of the first record + 6 of the bad header, then the rest of the header.
    const split = feed(file, [106, 10, 1000]);
    expect(split.answers).toEqual([null, 'caplen-exceeds-snaplen', 'caplen-exceeds-snaplen']);
    expect(split.got).toEqual(expected([RECS[0]!]));
    expect(split.message).toBe('record 1: captured length 65 exceeds the snapshot length 64');
  });

  it('refuses a captured length above the original length when the record is read in place', () => {
    const file = [...header(), ...record(RECS[0]!), ...record(lenBelowCaplen), ...record(RECS[2]!)];
    const r = feed(file, [file.length]);
    expect(r.answers).toEqual(['caplen-exceeds-len']);
    expect(r.got).toEqual(expected([RECS[0]!]));
    expect(r.message).toBe('record 1: captured length 10 exceeds the original length 9');
    // Exactly the snapshot length and above the original length: the original length is the fault.
    const r2 = feed([...header({ snaplen: 10 }), ...record(lenBelowCaplen)], [1000]);
    expect(r2.kind).toBe('caplen-exceeds-len');
  });

  it('ignores everything pushed after an error', () => {
    const r = new PcapStreamReader(() => {
      throw new Error('no record expected');
    });
    expect(r.push(Buffer.from('this is not a capture file at all'))?.kind).toBe('bad-magic');
    expect(r.push(Buffer.from([...header(), ...record(RECS[0]!)]))?.kind).toBe('bad-magic');
    expect(r.records).toBe(0);
  });

  it('keeps a record cut short by the end of the file undelivered', () => {
    const file = [...header(), ...RECS.flatMap((r) => record(r))].slice(0, -20);
    const r = feed(file, [file.length]);
    expect(r.got).toEqual(expected(RECS.slice(0, 2)));
    expect(r.kind).toBe('truncated-file');
    expect(r.message).toBe('file ended inside record 2 (29 bytes left over)');
  });

  it('says how much of the header came before the end', () => {
    expect(feed(header().slice(0, 10), [10]).message).toBe('file ended inside the 24-byte header (10 bytes)');
    const none = new PcapStreamReader(() => undefined).finish();
    expect([none?.kind, none?.message]).toEqual(['truncated-file', 'file ended inside the 24-byte header (0 bytes)']);
  });
});
