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
}

export interface CaptureFileResult {
  format: 'pcap' | 'pcapng';
  records: number;
  /** the fatal format error that ended reading early, if any; records before it were delivered */
  error: PcapFormatError | null;
}

export function readCaptureFile(b: Buffer, sink: (r: CaptureRecord) => void): CaptureFileResult {
  if (b.length >= 4 && b.readUInt32BE(0) === 0x0a0d0d0a) {
    const r = readPcapng(b, (buf, off, caplen, len, iface, idx) => sink({ linktype: iface.linktype, buf, off, caplen, len, ifaceName: iface.name, ifaceIndex: idx }));
    return { format: 'pcapng', records: r.records, error: r.error };
  }
  let linktype = -1;
  const reader = new PcapStreamReader(
    (buf, off, caplen, len) => sink({ linktype, buf, off, caplen, len, ifaceName: null, ifaceIndex: null }),
    (h) => (linktype = h.linktype),
  );
  reader.push(b);
  return { format: 'pcap', records: reader.records, error: reader.finish() };
}
