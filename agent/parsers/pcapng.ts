// pcapng for offline files (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-02.html):
// Section Header (SHB), Interface Description (IDB, with if_name), Enhanced Packet (EPB) and Simple Packet (SPB)
// blocks; several sections and interfaces. Other blocks are skipped by their length.
//
// Block: type(4) total length(4) body total length(4); total length is a multiple of 4, >= 12.
// SHB body: byte-order magic 0x1A2B3C4D(4) major(2) minor(2) section length(8) options
// IDB body: linktype(2) reserved(2) snaplen(4) options (if_name = 2, if_tsresol = 9)
// EPB body: interface id(4) ts high(4) ts low(4) captured length(4) original length(4) data (padded to 4) options
// SPB body: original length(4) data (captured length = min(original, snaplen of interface 0, body - 4))

import { PcapFormatError, MAX_CAPLEN, type PcapErrorKind } from './pcap.js';

export interface PcapngInterface {
  linktype: number;
  snaplen: number;
  name: string | null;
  /** milliseconds per timestamp unit (if_tsresol; microseconds by default) */
  msPerTick: number;
}

/** (data, offset, captured length, original length, interface, its index, timestamp in ms or NaN for SPB) */
export type PcapngSink = (
  buf: Buffer,
  off: number,
  caplen: number,
  len: number,
  iface: PcapngInterface,
  ifaceIndex: number,
  tsMs: number,
) => void;

type PcapngErrorKind = PcapErrorKind | 'bad-block' | 'bad-interface';

function err(kind: PcapngErrorKind, message: string, record: number): PcapFormatError {
  return new PcapFormatError(kind as PcapErrorKind, message, record);
}

export function readPcapng(b: Buffer, sink: PcapngSink): { records: number; interfaces: PcapngInterface[]; error: PcapFormatError | null } {
  let pos = 0;
  // Stryker disable next-line BooleanLiteral: the first block must be a section header, which sets the byte order
  let le = true;
  // Stryker disable next-line ArrayDeclaration: the first block must be a section header, which resets the list
  let interfaces: PcapngInterface[] = [];
  const all: PcapngInterface[] = [];
  let records = 0;
  const u16 = (o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const u32 = (o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  while (pos < b.length) {
    if (b.length - pos < 12)
      return { records, interfaces: all, error: err('truncated-file', `file ended inside a block header at byte ${pos}`, records) };
    const typeBE = b.readUInt32BE(pos);
    if (typeBE === 0x0a0d0d0a) {
      const bom = b.readUInt32BE(pos + 8);
      if (bom === 0x1a2b3c4d) le = false;
      else if (bom === 0x4d3c2b1a) le = true;
      else
        return {
          records,
          interfaces: all,
          error: err('bad-magic', `section header at byte ${pos} has byte-order magic 0x${bom.toString(16)}`, records),
        };
      interfaces = [];
    } else if (pos === 0) {
      return { records, interfaces: all, error: err('bad-magic', 'not a pcapng file (no section header)', 0) };
    }
    const type = u32(pos);
    const total = u32(pos + 4);
    if (total < 12 || total % 4 !== 0)
      return { records, interfaces: all, error: err('bad-block', `block at byte ${pos} has length ${total}`, records) };
    if (total > b.length - pos)
      return {
        records,
        interfaces: all,
        error: err('truncated-file', `block at byte ${pos} (${total} bytes) runs past the end of the file`, records),
      };
    const body = pos + 8;
    const bodyEnd = pos + total - 4;
    if (type === 1) {
      if (bodyEnd - body < 8)
        return { records, interfaces: all, error: err('bad-block', `interface block at byte ${pos} too short`, records) };
      const iface: PcapngInterface = { linktype: u16(body), snaplen: u32(body + 4), name: null, msPerTick: 1e-3 };
      // Options: code(2) length(2) value padded to 4; code 0 ends them.
      let o = body + 8;
      // Stryker disable next-line ArithmeticOperator: o never passes bodyEnd; at bodyEnd the length check below breaks
      while (bodyEnd - o >= 4) {
        const code = u16(o);
        const len = u16(o + 2);
        if (code === 0 || bodyEnd - o - 4 < len) break;
        if (code === 2) iface.name = b.toString('utf8', o + 4, o + 4 + len).replace(/\0+$/, '');
        if (code === 9 && len >= 1) {
          const r = b[o + 4]!;
          iface.msPerTick = (r & 0x80 ? 2 ** -(r & 0x7f) : 10 ** -(r & 0x7f)) * 1000;
        }
        o += 4 + ((len + 3) & ~3);
      }
      interfaces.push(iface);
      all.push(iface);
    } else if (type === 6) {
      if (bodyEnd - body < 20)
        return { records, interfaces: all, error: err('bad-block', `packet block at byte ${pos} too short`, records) };
      const id = u32(body);
      const iface = interfaces[id];
      if (!iface)
        return {
          records,
          interfaces: all,
          error: err('bad-interface', `packet block at byte ${pos} names interface ${id}, ${interfaces.length} described`, records),
        };
      const caplen = u32(body + 12);
      const len = u32(body + 16);
      if (caplen > bodyEnd - body - 20 || caplen > MAX_CAPLEN)
        return {
          records,
          interfaces: all,
          error: err('bad-block', `packet block at byte ${pos}: captured length ${caplen} exceeds the block`, records),
        };
      if (caplen > len)
        return {
          records,
          interfaces: all,
          error: err('caplen-exceeds-len', `record ${records}: captured length ${caplen} exceeds the original length ${len}`, records),
        };
      sink(b, body + 20, caplen, len, iface, id, (u32(body + 4) * 4294967296 + u32(body + 8)) * iface.msPerTick);
      records++;
    } else if (type === 3) {
      const iface = interfaces[0];
      if (!iface)
        return {
          records,
          interfaces: all,
          error: err('bad-interface', `simple packet block at byte ${pos} before any interface`, records),
        };
      if (bodyEnd - body < 4)
        return { records, interfaces: all, error: err('bad-block', `simple packet block at byte ${pos} too short`, records) };
      const len = u32(body);
      let caplen = Math.min(len, bodyEnd - body - 4);
      if (iface.snaplen > 0) caplen = Math.min(caplen, iface.snaplen);
      sink(b, body + 4, caplen, len, iface, 0, Number.NaN);
      records++;
    }
    pos += total;
  }
  return { records, interfaces: all, error: null };
}
