import { describe, expect, it } from 'vitest';
import { readPcapng } from '../../agent/parsers/pcapng.js';

// Blocks written byte by byte from draft-ietf-opsawg-pcapng (little-endian sections): Block Type(4), Block Total
// Length(4), body, Block Total Length(4) again. Options are Code(2) Length(2) Value padded to 32 bits; code 0
// (opt_endofopt) ends them; IDB options if_name = 2, if_description = 3, if_tsresol = 9.
const le16 = (v: number) => [v & 0xff, (v >> 8) & 0xff];
const le32 = (v: number) => [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff];
const pad4 = (n: number) => new Array((4 - (n % 4)) % 4).fill(0) as number[];

// A block whose body is taken as given (the caller pads it to 32 bits, or makes it wrong on purpose).
function block(type: number, body: number[]): number[] {
  const total = 12 + body.length;
  return [...le32(type), ...le32(total), ...body, ...le32(total)];
}

const SHB = block(0x0a0d0d0a, [...le32(0x1a2b3c4d), ...le16(1), ...le16(0), ...new Array(8).fill(0xff)]);
const option = (code: number, value: number[]) => [...le16(code), ...le16(value.length), ...value, ...pad4(value.length)];
const END = [0, 0, 0, 0];
const idb = (linktype: number, snaplen: number, options: number[] = []) =>
  block(1, [...le16(linktype), 0, 0, ...le32(snaplen), ...options]);
function epb(id: number, tsHigh: number, tsLow: number, data: number[], caplen = data.length, len = data.length): number[] {
  return block(6, [...le32(id), ...le32(tsHigh), ...le32(tsLow), ...le32(caplen), ...le32(len), ...data, ...pad4(data.length)]);
}
const ascii = (s: string) => [...Buffer.from(s, 'latin1')];

interface Rec {
  caplen: number;
  len: number;
  tsMs: number;
  ifaceIndex: number;
  data: number[];
}

function read(bytes: number[] | Buffer) {
  const recs: Rec[] = [];
  const r = readPcapng(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes), (buf, off, caplen, len, _iface, ifaceIndex, tsMs) =>
    recs.push({ caplen, len, tsMs, ifaceIndex, data: [...buf.subarray(off, off + caplen)] }),
  );
  return { ...r, recs, kind: r.error?.kind ?? null, message: r.error?.message ?? '' };
}

// The interface as the first IDB of a file with these options describes it.
function iface(options: number[]) {
  const r = read([...SHB, ...idb(1, 0, options)]);
  expect(r.error).toBeNull();
  return r.interfaces[0]!;
}

describe('pcapng interface description options', () => {
  it('lists every interface of every section, in file order', () => {
    const r = read([
      ...SHB,
      ...idb(1, 65535, [...option(2, ascii('eth0')), ...END]),
      ...idb(276, 0),
      ...SHB,
      ...idb(113, 96, [...option(2, ascii('any')), ...END]),
    ]);
    expect(r.error).toBeNull();
    expect(r.interfaces).toEqual([
      { linktype: 1, snaplen: 65535, name: 'eth0', msPerTick: 0.001 },
      { linktype: 276, snaplen: 0, name: null, msPerTick: 0.001 },
      { linktype: 113, snaplen: 96, name: 'any', msPerTick: 0.001 },
    ]);
  });

  it('reads an option that fills the block exactly, with or without opt_endofopt', () => {
    expect(iface(option(2, ascii('eth0'))).name).toBe('eth0');
    // A zero-length if_name as the last 4 bytes of the body is still an option: an empty name, not a missing one.
    expect(iface(option(2, [])).name).toBe('');
  });

  it('stops at opt_endofopt and at an option whose length runs past the block', () => {
    expect(iface([...END, ...option(2, ascii('late'))]).name).toBeNull();
    // if_name claims 5 bytes where the body has 4 left: the option is dropped, not read into the block trailer.
    expect(iface([...le16(2), ...le16(5), ...ascii('eth0')]).name).toBeNull();
    expect(iface([...le16(2), ...le16(400), ...ascii('eth0'), ...END]).name).toBeNull();
  });

  it('takes the name from if_name only, without its trailing NULs', () => {
    expect(iface([...option(3, ascii('uplink')), ...END]).name).toBeNull();
    expect(iface([...option(2, [0x61, 0, 0x62, 0, 0]), ...END]).name).toBe('a\0b');
  });

  it('reads if_tsresol as a power of 10 or, with its top bit set, of 2, after options of any padding', () => {
    // if_name 'lo0' (3 bytes, 1 of padding), then if_tsresol 0x8a: 2^-10 s = 1000/1024 ms per tick.
    expect(iface([...option(2, ascii('lo0')), ...option(9, [0x8a]), ...END])).toEqual({
      linktype: 1,
      snaplen: 0,
      name: 'lo0',
      msPerTick: 1000 / 1024,
    });
    expect(iface([...option(9, [9]), ...END]).msPerTick).toBeCloseTo(1e-6, 15);
    // An if_tsresol without a value leaves the default (microseconds); no other option changes it.
    expect(iface([...option(9, []), ...END]).msPerTick).toBe(0.001);
    expect(iface([...option(2, ascii('eth0')), ...END]).msPerTick).toBe(0.001);
  });
});

describe('pcapng packet blocks', () => {
  it('gives the time from both timestamp words in the interface resolution', () => {
    const r = read([
      ...SHB,
      ...idb(1, 0, [...option(2, ascii('eth0')), ...END]),
      ...idb(1, 0, [...option(9, [0x8a]), ...END]),
      ...epb(0, 1, 0, [1, 2, 3, 4]),
      ...epb(0, 0, 1_500_000, [1, 2, 3, 4]),
      ...epb(1, 0, 2048, [1, 2, 3, 4]),
    ]);
    expect(r.error).toBeNull();
    // 2^32 microseconds; 1.5 s in microseconds; 2048 ticks of 1/1024 s.
    expect(r.recs.map((x) => x.tsMs)).toEqual([4294967296 / 1000, 1500, 2000]);
    expect(r.recs.map((x) => x.ifaceIndex)).toEqual([0, 0, 1]);
  });

  it('delivers an enhanced packet with no captured bytes', () => {
    const r = read([...SHB, ...idb(1, 0), ...epb(0, 0, 0, [], 0, 60)]);
    expect(r.error).toBeNull();
    expect(r.recs).toEqual([{ caplen: 0, len: 60, tsMs: 0, ifaceIndex: 0, data: [] }]);
  });

  it('refuses a captured length a few bytes past the packet data', () => {
    // 4 data bytes (no padding) but a captured length of 8: the last 4 would be the block trailer.
    const r = read([...SHB, ...idb(1, 0), ...epb(0, 0, 0, [1, 2, 3, 4], 8, 8)]);
    expect(r.kind).toBe('bad-block');
    expect(r.message).toMatch(/captured length 8 exceeds the block/);
    expect(r.recs).toEqual([]);
  });

  it('takes a captured length up to 1 MiB (as the pcap reader) and refuses a longer one even when the block holds it', () => {
    const mib = 1 << 20;
    // An EPB holding n bytes of data (n a multiple of 4), written into one Buffer.
    const bigEpb = (n: number) => {
      const b = Buffer.alloc(32 + n, 7);
      b.writeUInt32LE(6, 0);
      b.writeUInt32LE(32 + n, 4);
      b.fill(0, 8, 20);
      b.writeUInt32LE(n, 20);
      b.writeUInt32LE(n, 24);
      b.writeUInt32LE(32 + n, 28 + n);
      return Buffer.concat([Buffer.from([...SHB, ...idb(1, 0)]), b]);
    };
    const ok = read(bigEpb(mib));
    expect(ok.error).toBeNull();
    expect(ok.recs.map((x) => x.caplen)).toEqual([mib]);
    const big = read(bigEpb(mib + 4));
    expect(big.kind).toBe('bad-block');
    expect(big.recs).toEqual([]);
  });

  it('refuses a packet naming an interface not described in its own section', () => {
    const r = read([...SHB, ...idb(1, 0), ...idb(1, 0), ...SHB, ...idb(1, 0), ...epb(1, 0, 0, [1, 2, 3, 4])]);
    expect(r.kind).toBe('bad-interface');
    expect(r.message).toMatch(/names interface 1, 1 described/);
    expect(r.interfaces).toHaveLength(3);
  });

  it('cuts a simple packet at its original length, at the end of its block, and at the snapshot length', () => {
    const spb = (len: number, data: number[]) => block(3, [...le32(len), ...data, ...pad4(data.length)]);
    const r = read([
      ...SHB,
      ...idb(1, 0),
      ...spb(0, []),
      ...spb(3, [9, 8, 7]),
      // Original length 100 but 8 bytes in the block: only those 8 are data.
      ...spb(100, [1, 2, 3, 4, 5, 6, 7, 8]),
    ]);
    expect(r.error).toBeNull();
    expect(r.recs.map((x) => [x.caplen, x.len, x.data])).toEqual([
      [0, 0, []],
      [3, 3, [9, 8, 7]],
      [8, 100, [1, 2, 3, 4, 5, 6, 7, 8]],
    ]);
    expect(r.recs.every((x) => Number.isNaN(x.tsMs) && x.ifaceIndex === 0)).toBe(true);
  });
});

describe('pcapng block framing', () => {
  it('refuses a block shorter than the 12 bytes of its own framing', () => {
    const r = read([...SHB, ...le32(0x99), ...le32(8), ...le32(8)]);
    expect(r.kind).toBe('bad-block');
    expect(r.message).toMatch(/has length 8/);
  });

  it('skips blocks of unknown type by their length', () => {
    const r = read([...SHB, ...idb(1, 0), ...block(0x99, [1, 2, 3, 4, 5, 6, 7, 8]), ...epb(0, 0, 0, [5, 6])]);
    expect(r.error).toBeNull();
    expect(r.recs.map((x) => x.data)).toEqual([[5, 6]]);
  });

  it('says where a block runs past the end of the file', () => {
    const r = read([...SHB, ...idb(1, 0), ...epb(0, 0, 0, [1, 2, 3, 4])].slice(0, -1));
    expect(r.kind).toBe('truncated-file');
    expect(r.message).toMatch(/block at byte 48 \(36 bytes\) runs past the end of the file/);
  });
});
