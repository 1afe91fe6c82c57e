// A capture file through the decoders and the flow matcher: the offline half of the live evidence.

import { decodePacket, type PacketSummary } from '../decoders/packet.js';
import { TCP_ACK, TCP_SYN } from '../decoders/transport.js';
import { readCaptureStream } from '../parsers/capture-file.js';
import { FlowMatcher, type FlowView, type PacketSkip, type VipTally } from './flow-matcher.js';
import { evidenceFindings } from './live-evidence.js';
import { failureRecord, feedPacket } from './packet-feed.js';
import type { Finding } from '../findings/registry.js';

// pcapng interfaces without an in-band index get ids above any real ifindex.
const PCAPNG_IFACE_BASE = 1 << 30;

export interface CaptureAnalysisOptions {
  /** null: infer VIPs from the destinations of incoming SYNs */
  vips: string[] | null;
  ifname: (ifindex: number) => string | null;
  capacity?: number;
  sampleFlows?: number;
}

export interface CaptureAnalysis {
  format: 'pcap' | 'pcapng';
  records: number;
  formatError: string | null;
  linktypes: number[];
  decodeFailures: Record<string, number>;
  vips: string[];
  vipsInferred: boolean;
  interfacesKnown: boolean;
  tally: Map<string, VipTally>;
  skipped: Record<PacketSkip, number>;
  flowCount: number;
  evictions: number;
  flows: FlowView[];
  observedClients: Map<string, string[]>;
  findings: Finding[];
}

/** Opens the capture from its start (called twice when VIPs are inferred). */
export type ChunkSource = () => AsyncIterable<Buffer>;

async function inferVips(open: ChunkSource): Promise<string[]> {
  const counts = new Map<string, number>();
  await readCaptureStream(open(), (linktype, b, off, caplen) => {
    const d = decodePacket(linktype, b, off, caplen);
    if (!d.ok || d.kind !== 'ip' || d.direction === 'outgoing' || d.tcpFlags === null) return;
    if ((d.tcpFlags & (TCP_SYN | TCP_ACK)) === TCP_SYN) counts.set(d.dst!, (counts.get(d.dst!) ?? 0) + 1);
  });
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 16)
    .map(([ip]) => ip);
}

export async function analyzeCapture(open: ChunkSource, opts: CaptureAnalysisOptions): Promise<CaptureAnalysis> {
  const vips = opts.vips ?? (await inferVips(open));
  const vipSet = new Set(vips);
  const pcapngNames = new Map<number, string>();
  const matcher = new FlowMatcher({
    vips,
    capacity: opts.capacity,
    // A file the operator chose to analyze: the client of an asymmetric flow never completes its handshake, yet is
    // the one to ask about.
    clients: 'answered',
    ifname: (i) => (i >= PCAPNG_IFACE_BASE ? (pcapngNames.get(i) ?? null) : opts.ifname(i)),
  });
  const failures: Record<string, number> = {};
  const linktypes = new Set<number>();
  let interfacesKnown = false;
  // The last timestamp in a typed array, and one extras object for every packet: a double in a closure variable
  // and a fresh object per packet were a tenth of analyze's time in garbage collection.
  const lastTs = new Float64Array(1);
  let lastLinktype = -2;
  let recName: string | null = null;
  let recIndex: number | null = null;
  const extras = {
    adjust: (d: PacketSummary) => {
      if (d.ifindex === null && recIndex !== null && recName && d.kind === 'ip') {
        // A pcapng file with one interface per link: the interface is the file's, the direction follows the VIP.
        d.ifindex = PCAPNG_IFACE_BASE + recIndex;
        pcapngNames.set(d.ifindex, recName);
        d.direction = vipSet.has(d.src!) ? 'outgoing' : 'host';
      }
    },
  };
  const countFailure = failureRecord(failures);
  const res = await readCaptureStream(open(), (linktype, b, off, caplen, _len, tsMs, ifaceName, ifaceIndex) => {
    if (!Number.isNaN(tsMs)) lastTs[0] = tsMs;
    if (linktype !== lastLinktype) {
      linktypes.add(linktype);
      lastLinktype = linktype;
    }
    recName = ifaceName;
    recIndex = ifaceIndex;
    if (feedPacket(matcher, countFailure, linktype, b, off, caplen, lastTs[0]!, extras)) interfacesKnown = true;
  });
  // End of file: whatever still waits for a reply has waited long enough.
  const end = lastTs[0]! + 1e9;
  const tally = matcher.tally(end);
  const skipped = { ...matcher.skipped };
  return {
    format: res.format,
    records: res.records,
    formatError: res.error ? res.error.message : null,
    linktypes: [...linktypes],
    decodeFailures: failures,
    vips,
    vipsInferred: opts.vips === null,
    interfacesKnown,
    tally,
    skipped,
    flowCount: matcher.size,
    evictions: matcher.evictions,
    flows: matcher.flows(end, { limit: opts.sampleFlows ?? 20 }),
    observedClients: matcher.observedClients(),
    findings: evidenceFindings({ tally, skipped, interfacesKnown }),
  };
}
