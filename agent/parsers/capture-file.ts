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
export type RawRecordSink = (linktype: number, buf: Buffer, off: number, caplen: number, len: number, tsMs: number, ifaceName: string | null, ifaceIndex: number | null) => void;

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
  if (head.length >= 4 && head.readUInt32BE(0) === 0x0a0d0d0a) {
    const all: Buffer[] = [head];
    for (let n = await it.next(); !n.done; n = await it.next()) all.push(Buffer.from(n.value as Buffer));
    const res = readPcapng(Buffer.concat(all), (buf, off, caplen, len, iface, idx, tsMs) => sink(iface.linktype, buf, off, caplen, len, tsMs, iface.name, idx));
    return { format: 'pcapng', records: res.records, error: res.error };
  }
  let linktype = -1;
  let fracMs = 1e-3;
  const reader = new PcapStreamReader(
    (buf, off, caplen, len, sec, frac) => sink(linktype, buf, off, caplen, len, sec * 1000 + frac * fracMs, null, null),
    (h) => {
      linktype = h.linktype;
      fracMs = h.nanoseconds ? 1e-6 : 1e-3;
    },
  );
  let err = head.length ? reader.push(head) : null;
  if (!r.done) {
    for (let n = await it.next(); !n.done && !err; n = await it.next()) err = reader.push(n.value as Buffer);
  }
  return { format: 'pcap', records: reader.records, error: err ?? reader.finish() };
}

export function readCaptureFile(b: Buffer, sink: (r: CaptureRecord) => void): CaptureFileResult {
  if (b.length >= 4 && b.readUInt32BE(0) === 0x0a0d0d0a) {
    const r = readPcapng(b, (buf, off, caplen, len, iface, idx, tsMs) => sink({ linktype: iface.linktype, buf, off, caplen, len, ifaceName: iface.name, ifaceIndex: idx, tsMs }));
    return { format: 'pcapng', records: r.records, error: r.error };
  }
  let linktype = -1;
  let fracMs = 1e-3;
  const reader = new PcapStreamReader(
    (buf, off, caplen, len, sec, frac) => sink({ linktype, buf, off, caplen, len, ifaceName: null, ifaceIndex: null, tsMs: sec * 1000 + frac * fracMs }),
    (h) => {
      linktype = h.linktype;
      fracMs = h.nanoseconds ? 1e-6 : 1e-3;
    },
  );
  reader.push(b);
  return { format: 'pcap', records: reader.records, error: reader.finish() };
}
