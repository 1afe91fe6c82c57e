// Streaming reader for classic pcap (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcap-03.html):
// microsecond and nanosecond magic, both byte orders, records split across chunk boundaries.
//
// Global header (24 bytes): magic(4) version major(2) minor(2) reserved(4) reserved(4) snaplen(4) linktype(4)
// Record header (16 bytes): ts seconds(4) ts micro/nanoseconds(4) captured length(4) original length(4)

export type PcapErrorKind = 'bad-magic' | 'pcapng-on-stream' | 'caplen-exceeds-snaplen' | 'caplen-exceeds-len' | 'truncated-file';

export class PcapFormatError extends Error {
  constructor(
    readonly kind: PcapErrorKind,
    message: string,
    readonly record: number,
  ) {
    super(message);
    this.name = 'PcapFormatError';
  }
}

export interface PcapHeader {
  littleEndian: boolean;
  nanoseconds: boolean;
  snaplen: number;
  linktype: number;
  versionMajor: number;
  versionMinor: number;
}

/** (data, offset, captured length, original length, seconds, fraction in the header's unit) */
export type RecordSink = (buf: Buffer, off: number, caplen: number, len: number, sec: number, frac: number) => void;

// Beyond this a record is not a packet but a corrupt length; it would make the reader wait for gigabytes.
export const MAX_CAPLEN = 1 << 20;
// A header snaplen of 0 (some writers) means "no limit": libpcap's largest value.
const DEFAULT_SNAPLEN = 262144;

export function parsePcapHeader(b: Buffer): PcapHeader | PcapFormatError {
  const magicBE = b.readUInt32BE(0);
  let le: boolean;
  let ns: boolean;
  switch (magicBE) {
    case 0xa1b2c3d4:
      [le, ns] = [false, false];
      break;
    case 0xd4c3b2a1:
      [le, ns] = [true, false];
      break;
    case 0xa1b23c4d:
      [le, ns] = [false, true];
      break;
    case 0x4d3cb2a1:
      [le, ns] = [true, true];
      break;
    case 0x0a0d0d0a:
      return new PcapFormatError(
        'pcapng-on-stream',
        'this is a pcapng file: the streaming reader takes classic pcap (use readCaptureFile)',
        0,
      );
    default:
      return new PcapFormatError('bad-magic', `not a pcap file (magic 0x${magicBE.toString(16).padStart(8, '0')})`, 0);
  }
  const u16 = (o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const u32 = (o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  return { littleEndian: le, nanoseconds: ns, versionMajor: u16(4), versionMinor: u16(6), snaplen: u32(16), linktype: u32(20) & 0xffff };
}

// Callers check that 4 bytes are there.
function u32le(b: Buffer, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16)) + b[o + 3]! * 16777216;
}

function u32be(b: Buffer, o: number): number {
  return b[o]! * 16777216 + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);
}

export class PcapStreamReader {
  header: PcapHeader | null = null;
  records = 0;
  bytes = 0;
  error: PcapFormatError | null = null;
  private pending: Buffer | null = null;
  private snaplen = DEFAULT_SNAPLEN;

  constructor(
    private readonly sink: RecordSink,
    private readonly onHeader?: (h: PcapHeader) => void,
  ) {}

  /** Feeds bytes; returns the fatal format error once one is met (the reader then ignores further input). */
  push(chunk: Buffer): PcapFormatError | null {
    if (this.error) return this.error;
    this.bytes += chunk.length;
    let b = chunk;
    let pos = 0;
    if (!this.header) {
      b = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
      this.pending = null;
      if (b.length < 24) {
        this.pending = b;
        return null;
      }
      const h = parsePcapHeader(b);
      if (h instanceof PcapFormatError) return (this.error = h);
      this.header = h;
      this.snaplen = Math.min(h.snaplen === 0 ? DEFAULT_SNAPLEN : h.snaplen, MAX_CAPLEN);
      this.onHeader?.(h);
      pos = 24;
    } else if (this.pending) {
      // Complete only the record split across chunks; the rest of the chunk is read in place, not copied.
      const p = this.pending;
      const want = p.length < 16 ? 16 : 16 + this.recordLength(p);
      if (this.error) return this.error;
      const take = Math.min(want - p.length, chunk.length);
      const joined = Buffer.concat([p, chunk.subarray(0, take)]);
      if (joined.length < want) {
        this.pending = joined;
        return null;
      }
      this.pending = null;
      if (p.length < 16) {
        // Now the header is whole: go round again with it as the pending part.
        this.pending = joined;
        this.bytes -= chunk.length - take;
        return this.push(chunk.subarray(take));
      }
      const rest = this.records_(joined, 0);
      // Stryker disable next-line UnaryOperator: joined is one whole record that recordLength passed, so rest is never -1
      if (rest === -1) return this.error;
      pos = take;
    }
    const end = this.records_(b, pos);
    if (end === -1) return this.error;
    if (end < b.length) this.pending = Buffer.from(b.subarray(end));
    return null;
  }

  // Captured length of the record whose header starts b; sets this.error when it is out of bounds.
  private recordLength(b: Buffer): number {
    const le = this.header!.littleEndian;
    const caplen = le ? b.readUInt32LE(8) : b.readUInt32BE(8);
    const len = le ? b.readUInt32LE(12) : b.readUInt32BE(12);
    if (caplen > this.snaplen) {
      this.error = new PcapFormatError(
        'caplen-exceeds-snaplen',
        `record ${this.records}: captured length ${caplen} exceeds the snapshot length ${this.snaplen}`,
        this.records,
      );
    } else if (caplen > len) {
      this.error = new PcapFormatError(
        'caplen-exceeds-len',
        `record ${this.records}: captured length ${caplen} exceeds the original length ${len}`,
        this.records,
      );
    }
    return caplen;
  }

  /**
   * Delivers the whole records in b from pos; returns where the first incomplete one starts, or -1 on error.
   * Header fields are read byte by byte: Buffer#readUInt32LE costs about 50 ns a call on Node 20 (not inlined),
   * four times the whole record loop (profile in docs/benchmark.md).
   */
  private records_(b: Buffer, pos: number): number {
    const u32 = this.header!.littleEndian ? u32le : u32be;
    const end = b.length;
    const snaplen = this.snaplen;
    while (end - pos >= 16) {
      const caplen = u32(b, pos + 8);
      const len = u32(b, pos + 12);
      if (caplen > snaplen || caplen > len) {
        this.recordLength(b.subarray(pos));
        return -1;
      }
      if (end - pos - 16 < caplen) break;
      this.sink(b, pos + 16, caplen, len, u32(b, pos), u32(b, pos + 4));
      this.records++;
      pos += 16 + caplen;
    }
    return pos;
  }

  /** End of input: leftover bytes mean the last record was cut off. */
  finish(): PcapFormatError | null {
    if (this.error) return this.error;
    if (!this.header)
      return (this.error = new PcapFormatError(
        'truncated-file',
        `file ended inside the 24-byte header (${this.pending?.length ?? 0} bytes)`,
        0,
      ));
    if (this.pending && this.pending.length > 0) {
      return (this.error = new PcapFormatError(
        'truncated-file',
        `file ended inside record ${this.records} (${this.pending.length} bytes left over)`,
        this.records,
      ));
    }
    return null;
  }
}
