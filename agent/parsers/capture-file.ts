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
