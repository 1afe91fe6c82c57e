// A whole capture file, pcap or pcapng (told apart by magic), as records with their link type and interface.

import { PcapFormatError, PcapStreamReader } from './pcap.js';
import { readPcapng } from './pcapng.js';

export interface CaptureRecord {
  linktype: number;
  buf: Buffer;
  off: number;
  caplen: number;
  len: number;
  /** pcapng if_name, when the file names its interfaces */
  ifaceName: string | null;
  ifaceIndex: number | null;
  /** capture time in ms since the epoch (NaN when the format has none, as in pcapng simple packets) */
  tsMs: number;
}

export interface CaptureFileResult {
  format: 'pcap' | 'pcapng';
  records: number;
  /** the fatal format error that ended reading early, if any; records before it were delivered */
  error: PcapFormatError | null;
}

/** (link type, data, offset, captured length, original length, ms, pcapng interface name and index) */
export type RawRecordSink = (
  linktype: number,
  buf: Buffer,
  off: number,
  caplen: number,
  len: number,
  tsMs: number,
  ifaceName: string | null,
  ifaceIndex: number | null,
) => void;

// Classic pcap into a raw sink: the link type and timestamp unit come from the header.
function pcapReader(sink: RawRecordSink): PcapStreamReader {
  // Stryker disable next-line UnaryOperator: the header callback sets the link type before any record is delivered
  let linktype = -1;
  let fracMs = 1e-3;
  return new PcapStreamReader(
    (buf, off, caplen, len, sec, frac) => sink(linktype, buf, off, caplen, len, sec * 1000 + frac * fracMs, null, null),
    (h) => {
      linktype = h.linktype;
      fracMs = h.nanoseconds ? 1e-6 : 1e-3;
    },
  );
}

function readPcapngBuffer(b: Buffer, sink: RawRecordSink): CaptureFileResult {
  const r = readPcapng(b, (buf, off, caplen, len, iface, idx, tsMs) => sink(iface.linktype, buf, off, caplen, len, tsMs, iface.name, idx));
  return { format: 'pcapng', records: r.records, error: r.error };
}

const isPcapng = (b: Buffer) => b.length >= 4 && b.readUInt32BE(0) === 0x0a0d0d0a;

/**
 * Streams a capture: pcap record by record as chunks arrive; pcapng (offline only) is gathered whole first.
 * Chunks may be reused by the source once the next one is asked for: what is kept is copied.
 */
export async function readCaptureStream(chunks: AsyncIterable<Buffer>, sink: RawRecordSink): Promise<CaptureFileResult> {
  const it = chunks[Symbol.asyncIterator]();
  const held: Buffer[] = [];
  let size = 0;
  let r = await it.next();
  while (!r.done && size < 4) {
    held.push(Buffer.from(r.value));
    size += r.value.length;
    if (size < 4) r = await it.next();
  }
  const head = Buffer.concat(held);
  if (isPcapng(head)) {
    const all: Buffer[] = [head];
    for (let n = await it.next(); !n.done; n = await it.next()) all.push(Buffer.from(n.value as Buffer));
    return readPcapngBuffer(Buffer.concat(all), sink);
  }
  const reader = pcapReader(sink);
  let err = head.length ? reader.push(head) : null;
  if (!r.done) {
    for (let n = await it.next(); !n.done && !err; n = await it.next()) err = reader.push(n.value as Buffer);
  }
  return { format: 'pcap', records: reader.records, error: err ?? reader.finish() };
}

/** A capture already in memory, one record object per packet (tests and small files). */
export function readCaptureFile(b: Buffer, sink: (r: CaptureRecord) => void): CaptureFileResult {
  const raw: RawRecordSink = (linktype, buf, off, caplen, len, tsMs, ifaceName, ifaceIndex) =>
    sink({ linktype, buf, off, caplen, len, ifaceName, ifaceIndex, tsMs });
  if (isPcapng(b)) return readPcapngBuffer(b, raw);
  const reader = pcapReader(raw);
  reader.push(b);
  return { format: 'pcap', records: reader.records, error: reader.finish() };
}
