// Live evidence as a monitor: the tcpdump child (restarted by the supervisor), the flow matcher it feeds, and the
// findings and metrics of flows. ARP/NDP and BGP packets are handed to the taps of their own monitors.

import { Counter, Gauge, type Registry } from 'prom-client';
import { FLOW_OUTCOMES, FlowMatcher, type FlowOutcome, type FlowView, type VipTally } from '../analysis/flow-matcher.js';
import { evidenceFindings, pathsText } from '../analysis/live-evidence.js';
import { feedPacket, type PacketTap } from '../analysis/packet-feed.js';
import type { VipReport } from '../reply-path/verdicts.js';
import type { VipSpec } from '../analysis/vips.js';
import type { Finding } from '../findings/registry.js';
import { canonicalIp } from '../net/ip.js';
import type { LinkNames } from '../sources/link-names.js';
import type { Restarter } from '../supervisor/restarter.js';
import { RequestError, type Endpoint, type LogFn, type Monitor, type MonitorHealth, type ReportSection } from '../findings/monitor.js';
import { buildFilter, TcpdumpCapture, type CaptureEvent, type CaptureStats, type SampleBits } from './tcpdump.js';

export interface CaptureConfig {
  enabled: boolean;
  snaplen: number;
  bufferKiB: number;
  flowCapacity: number;
  idleMs: number;
  /** what of the TCP/UDP data crosses into user space (tcpdump.ts SampleBits; absent: all) */
  sample?: SampleBits;
}

export interface CaptureMonitorOptions {
  capture: CaptureConfig;
  names: LinkNames;
  log: LogFn;
  registry: Registry;
  restarter: Restarter;
  /** the last static check's view of a VIP */
  staticVip: (vip: string) => VipReport | null;
  /** ARP and NDP packets for the VIPs go here */
  neighbourTap?: PacketTap | null;
  /** TCP port `port` goes here, and the filter keeps it */
  bgpTap?: { port: number; tap: PacketTap } | null;
  changed: () => void;
  /** for tests: the tcpdump binary */
  tcpdumpBinary?: string;
}

export interface CaptureCounters {
  packets: number;
  drops: number;
  restarts: number;
  linktypeOk: boolean | null;
  lastError: string | null;
}

/** /v1/flows answers at most this many bytes of flows (about 3,000 flows), whatever the limit. */
export const MAX_FLOWS_RESPONSE_BYTES = 1 << 20;

// The most recent flows that fit in MAX_FLOWS_RESPONSE_BYTES; `truncated` says how many more the limit asked for.
export function cappedFlows(flows: FlowView[]): { flows: FlowView[]; truncated?: { returned: number; omitted: number; maxBytes: number } } {
  let bytes = 0;
  for (let i = 0; i < flows.length; i++) {
    bytes += JSON.stringify(flows[i]).length + 1;
    if (bytes > MAX_FLOWS_RESPONSE_BYTES)
      return { flows: flows.slice(0, i), truncated: { returned: i, omitted: flows.length - i, maxBytes: MAX_FLOWS_RESPONSE_BYTES } };
  }
  return { flows };
}

/** Observed clients handed to the static check (most recent handshakes first). */
export const MAX_CHECKED_CLIENTS = 64;

/** How often flows that went idle are closed (and the findings gathered again). */
const EXPIRE_MS = 5000;

export class CaptureMonitor implements Monitor {
  readonly name = 'capture';
  matcher: FlowMatcher | null = null;
  capture: TcpdumpCapture | null = null;
  readonly captureStats: CaptureCounters = { packets: 0, drops: 0, restarts: 0, linktypeOk: null, lastError: null };
  /** layer -> reason -> packets that could not be decoded */
  readonly decodeFailures = new Map<string, Map<string, number>>();
  /** the VIPs of the current filter */
  vips: string[] = [];
  private tallyCache: { matcher: FlowMatcher; at: number; tally: Map<string, VipTally> } | null = null;
  private dropsBase = 0;
  private lastStats: CaptureStats | null = null;
  private expiryTimer: NodeJS.Timeout | null = null;
  private readonly m: ReturnType<typeof captureMetrics>;
  /** what the counters were last handed to prom-client at: packets, failures, skips, evictions of this matcher */
  private exported = { packets: 0, failures: new Map<string, number>(), skipped: {} as Record<string, number>, evictions: 0 };

  constructor(private readonly opts: CaptureMonitorOptions) {
    this.m = captureMetrics(opts.registry, this);
    this.m.sampled.set(this.sampling.flowsWithData);
  }

  /** What the capture filter keeps, for the report and the metrics. */
  get sampling(): { sampleBits: number; tcpDataBits: number; udpBits: number; flowsWithData: number; text: string } {
    const k = this.opts.capture.sample?.flows ?? 0;
    const d = this.opts.capture.sample?.tcpData ?? 0;
    const u = this.opts.capture.sample?.udp ?? 0;
    const within = [
      d ? `about 1 in ${2 ** d} of their TCP data segments` : null,
      u ? `about 1 in ${2 ** u} of their IPv4 UDP datagrams` : null,
    ]
      .filter(Boolean)
      .join(' and ');
    const flows = k === 0 ? 'of every flow' : `of 1 in ${2 ** k} flows (client port with its low ${k} bits zero)`;
    const text =
      k === 0 && !within
        ? 'every packet to and from the VIPs'
        : `TCP SYN, FIN and RST of every flow; TCP and UDP data ${flows}${within ? `, and of those ${within}` : ''}`;
    return { sampleBits: k, tcpDataBits: d, udpBits: u, flowsWithData: 1 / 2 ** k, text };
  }

  get wanted(): boolean {
    return this.opts.capture.enabled && this.vips.length > 0;
  }

  async start(): Promise<void> {
    // The capture starts with the first VIP set (follow()).
  }

  ingressOf(vip: string): string | null {
    return this.opts.staticVip(vip)?.ingress ?? null;
  }

  /**
   * Clients that completed a TCP handshake with a VIP lately, so the static check asks about their replies too: the
   * MAX_CHECKED_CLIENTS latest, since every VIP is asked about every one of them.
   */
  observedClients(): string[] {
    return this.matcher ? this.matcher.recentClients(Date.now(), MAX_CHECKED_CLIENTS) : [];
  }

  /** The open flows' tally, computed at most once a second: a scrape's gauges, the findings and the report share it. */
  openTally(now: number): Map<string, VipTally> {
    const m = this.matcher;
    if (!m) return new Map();
    const c = this.tallyCache;
    if (c && c.matcher === m && now >= c.at && now - c.at < 1000) return c.tally;
    const tally = m.openTally(now);
    this.tallyCache = { matcher: m, at: now, tally };
    return tally;
  }

  /** Follows the VIP set: a new filter means a new tcpdump and a new flow table. */
  /** between stopping the capture of the old VIP set and starting the new one */
  private following = false;

  async follow(vips: VipSpec[]): Promise<void> {
    const c = this.opts.capture;
    this.vips = vips.map((v) => v.ip);
    if (!c.enabled || vips.length === 0) return;
    const bgp = this.opts.bgpTap ?? null;
    const filter = buildFilter(
      vips.map((v) => v.ip),
      { bgp: bgp !== null, sample: c.sample },
    );
    if (this.capture && this.capture.args.at(-1) === filter) return;
    // A restart for a new VIP set is planned: /healthz stays ok through it (the liveness probe must not see it).
    this.following = true;
    try {
      await this.replace(vips, filter);
    } finally {
      this.following = false;
    }
  }

  private async replace(vips: VipSpec[], filter: string): Promise<void> {
    const c = this.opts.capture;
    const bgp = this.opts.bgpTap ?? null;
    if (this.capture) {
      this.opts.log({ event: 'capture-restart', reason: 'VIP set changed', filter });
      await this.capture.stop();
    }
    this.flush();
    const names = this.opts.names;
    const m = new FlowMatcher({
      vips: vips.map((v) => v.ip),
      capacity: c.flowCapacity,
      idleMs: c.idleMs,
      ifname: (i) => names.name(i),
      tcpDataThinned: (c.sample?.tcpData ?? 0) > 0,
    });
    this.matcher = m;
    this.exported = { ...this.exported, skipped: {}, evictions: 0 };
    this.dropsBase = this.captureStats.drops;
    const failures = this.decodeFailures;
    const onFailure = (layer: string, reason: string) => {
      let byReason = failures.get(layer);
      if (!byReason) failures.set(layer, (byReason = new Map()));
      byReason.set(reason, (byReason.get(reason) ?? 0) + 1);
    };
    const extras = { arp: this.opts.neighbourTap ?? null, bgp };
    this.capture = new TcpdumpCapture({
      vips: vips.map((v) => v.ip),
      bgp: bgp !== null,
      sample: c.sample,
      snaplen: c.snaplen,
      bufferKiB: c.bufferKiB,
      restarter: this.opts.restarter,
      binary: this.opts.tcpdumpBinary,
      onPacket: (buf, off, caplen, _len, ts, linktype) => {
        this.captureStats.packets++;
        feedPacket(m, onFailure, linktype, buf, off, caplen, ts, extras);
      },
      onBatch: () => this.flush(),
      onEvent: (e) => this.onCaptureEvent(e),
    });
    await this.capture.start();
    if (!this.expiryTimer) {
      this.expiryTimer = setInterval(() => {
        this.matcher?.expire(Date.now());
        this.opts.changed();
      }, EXPIRE_MS);
      this.expiryTimer.unref();
    }
  }

  // The packet path keeps plain integers; they are handed to prom-client once per chunk of the stream.
  private flush(): void {
    const e = this.exported;
    const m = this.m;
    if (this.captureStats.packets > e.packets) m.packets.inc(this.captureStats.packets - e.packets);
    e.packets = this.captureStats.packets;
    for (const [layer, byReason] of this.decodeFailures)
      for (const [reason, n] of byReason) {
        const k = `${layer} ${reason}`;
        const d = n - (e.failures.get(k) ?? 0);
        if (d <= 0) continue;
        m.decodeFailures.inc({ layer, reason }, d);
        e.failures.set(k, n);
      }
    const matcher = this.matcher;
    if (!matcher) return;
    for (const [reason, n] of Object.entries(matcher.skipped)) {
      const d = n - (e.skipped[reason] ?? 0);
      if (d > 0) m.skipped.inc({ reason }, d);
      e.skipped[reason] = n;
    }
    if (matcher.evictions > e.evictions) m.evictions.inc(matcher.evictions - e.evictions);
    e.evictions = matcher.evictions;
  }

  /** The capture's event stream (public so a test can drive it with the events tcpdump would cause). */
  onCaptureEvent(e: CaptureEvent): void {
    if (e.type === 'stats') {
      // tcpdump's counters restart with each child: carry the total across restarts.
      if (this.lastStats && e.stats.droppedByKernel < this.lastStats.droppedByKernel) this.dropsBase += this.lastStats.droppedByKernel;
      this.lastStats = e.stats;
      const drops = this.dropsBase + e.stats.droppedByKernel;
      if (drops > this.captureStats.drops) this.m.drops.inc(drops - this.captureStats.drops);
      this.captureStats.drops = Math.max(drops, this.captureStats.drops);
      return;
    }
    if (e.type === 'linktype') this.captureStats.linktypeOk = e.ok;
    if (e.type === 'started') {
      const r = this.opts.restarter.state.restarts;
      if (r > this.captureStats.restarts) this.m.restarts.inc(r - this.captureStats.restarts);
      this.captureStats.restarts = r;
    }
    if (e.type === 'exited') {
      this.captureStats.lastError = e.stderr || `exit ${e.code ?? e.signal}`;
      if (this.lastStats) this.dropsBase += this.lastStats.droppedByKernel;
      this.lastStats = null;
    }
    this.opts.log({ event: `capture-${e.type}`, ...e });
  }

  findings(now: number): Finding[] {
    const m = this.matcher;
    if (!m) return [];
    return evidenceFindings({
      tally: this.openTally(now),
      skipped: m.skipped,
      interfacesKnown: this.captureStats.linktypeOk !== false,
      staticVip: this.opts.staticVip,
    });
  }

  health(): MonitorHealth {
    const wanted = this.wanted;
    const running = this.capture?.running === true || this.following;
    const ok = !wanted || running;
    return {
      ok,
      state: ok ? (wanted ? 'running' : 'disabled') : 'capture-down',
      detail: { capture: wanted ? (running ? 'running' : 'down') : 'disabled', lastCaptureError: this.captureStats.lastError },
    };
  }

  report(now: number): ReportSection {
    const flows = this.matcher ? Object.fromEntries([...this.openTally(now)]) : null;
    const text: string[] = [];
    if (this.opts.capture.enabled) text.push(`Capture keeps: ${this.sampling.text}.`);
    if (!this.opts.capture.enabled) text.push('Live flows: capture disabled');
    else if (!flows || Object.keys(flows).length === 0)
      text.push(`Live flows: none yet (capture ${this.capture?.healthy ? 'running' : 'down'}; ${this.captureStats.packets} packets)`);
    else {
      text.push('Live flows (not yet expired):');
      for (const [vip, t] of Object.entries(flows)) {
        const oc = FLOW_OUTCOMES.filter((x) => t.outcomes[x] > 0)
          .map((x) => `${t.outcomes[x]} ${x}`)
          .join(', ');
        text.push(
          `  ${vip}: ${oc}; paths ${pathsText(t.paths)}${t.retransmittedSyns ? `; retransmitted SYNs ${t.retransmittedSyns}` : ''}`,
        );
      }
    }
    return { json: { liveFlows: flows, capture: { ...this.captureStats, sampling: this.sampling } }, text };
  }

  endpoints(): Endpoint[] {
    return [
      {
        path: '/v1/flows',
        get: (q) => {
          const vip = q['vip'] === undefined ? undefined : canonicalIp(q['vip']);
          if (vip === null) throw new RequestError(`vip ${JSON.stringify(q['vip'])} is not an IP address`);
          const outcome = q['outcome'];
          if (outcome !== undefined && !FLOW_OUTCOMES.includes(outcome as FlowOutcome))
            throw new RequestError(`outcome ${JSON.stringify(outcome)} is not one of ${FLOW_OUTCOMES.join(', ')}`);
          const limit = q['limit'] === undefined ? 100 : Number(q['limit']);
          if (!Number.isInteger(limit) || limit < 1 || limit > 10_000)
            throw new RequestError(`limit ${JSON.stringify(q['limit'])} must be an integer from 1 to 10000`);
          if (!this.matcher) return { body: { flows: [], capture: this.opts.capture.enabled ? 'not started (no VIPs?)' : 'disabled' } };
          return { body: cappedFlows(this.matcher.flows(Date.now(), { vip, outcome: outcome as FlowOutcome | undefined, limit })) };
        },
      },
    ];
  }

  async stop(): Promise<void> {
    if (this.expiryTimer) clearInterval(this.expiryTimer);
    await this.capture?.stop();
  }
}

// Gauges of what is open now are read when scraped; counters move when packets are read (flush) or events come.
function captureMetrics(registry: Registry, mon: CaptureMonitor) {
  const registers = [registry];
  const ingressSeen = new Map<string, number>();
  const ingress: Counter<string> = new Counter({
    name: 'asymroute_vip_ingress_packets_total',
    help: 'Request packets to each VIP captured, by interface: TCP SYN, FIN and RST of every flow, data of the sampled flows only (asymroute_capture_sampled_flows_ratio). A node that never sees VIP traffic while its peers do is a symptom in itself.',
    labelNames: ['vip', 'interface'],
    registers,
    // Per packet and interface this is a tally the flow table keeps anyway; copying it here per packet would cost
    // a label lookup per packet. It is cumulative, so any number of scrapers read the same series.
    collect() {
      const m = mon.matcher;
      if (!m) return;
      // Present at 0 from the start on each VIP's ingress: a series born with its first packets would hide that
      // first rise from increase(), and a node that never gets any would have no series to alert on.
      for (const vip of mon.vips) {
        const ing = mon.ingressOf(vip);
        if (ing) ingress.inc({ vip, interface: ing }, 0);
      }
      const now = Date.now();
      for (const [vip, t] of m.tally(now))
        for (const [iface, n] of Object.entries(t.ingressPackets)) {
          const k = `${vip} ${iface}`;
          const prev = ingressSeen.get(k) ?? 0;
          ingress.inc({ vip, interface: iface }, Math.max(0, n - prev));
          ingressSeen.set(k, Math.max(prev, n));
        }
    },
  });
  return {
    ingress,
    packets: new Counter({ name: 'asymroute_capture_packets_total', help: 'Packets read from the capture.', registers }),
    drops: new Counter({
      name: 'asymroute_capture_kernel_drops_total',
      help: 'Packets the kernel dropped before the capture read them (tcpdump statistics, summed across restarts).',
      registers,
    }),
    restarts: new Counter({ name: 'asymroute_capture_restarts_total', help: 'Restarts of the tcpdump child.', registers }),
    decodeFailures: new Counter({
      name: 'asymroute_capture_decode_failures_total',
      help: 'Captured packets no decoder could read, by layer and reason (truncated is kept apart from malformed).',
      labelNames: ['layer', 'reason'],
      registers,
    }),
    skipped: new Counter({
      name: 'asymroute_flow_skipped_packets_total',
      help: 'Decoded packets the flow table did not track, by reason (not to or from a VIP, no interface index, a full service table, …).',
      labelNames: ['reason'],
      registers,
    }),
    evictions: new Counter({
      name: 'asymroute_flow_evictions_total',
      help: 'Flows evicted from the full flow table before they ended (the table is bounded: --flow-capacity).',
      registers,
    }),
    sampled: new Gauge({
      name: 'asymroute_capture_sampled_flows_ratio',
      help: 'Share of flows whose TCP and UDP data packets the capture filter keeps (1 / 2^captureSampleBits); TCP SYN, FIN and RST are kept for every flow. Packet counters count what is kept.',
      registers,
    }),
    up: new Gauge({
      name: 'asymroute_capture_up',
      help: '1 while the tcpdump child runs and delivers LINUX_SLL2, else 0 (also while no capture is wanted: --capture=false or no VIP yet).',
      registers,
      collect() {
        this.set(mon.capture?.healthy ? 1 : 0);
      },
    }),
    flows: new Gauge({
      name: 'asymroute_flows',
      help: 'Flows to each VIP currently tracked (not yet expired), by outcome: symmetric, asymmetric (any reply, RST and ICMP errors included, left on another interface), unanswered (a TCP SYN with no reply for 3 s), no-reply (UDP or other requests with no reply: counted, no finding), reset (a RST on the request interface), pending.',
      labelNames: ['vip', 'outcome'],
      registers,
      collect() {
        this.reset();
        if (!mon.matcher) return;
        for (const [vip, t] of mon.openTally(Date.now())) for (const o of FLOW_OUTCOMES) this.set({ vip, outcome: o }, t.outcomes[o]);
      },
    }),
    asymmetric: new Gauge({
      name: 'asymroute_asymmetric_flows',
      help: 'Flows to each VIP currently tracked whose replies (RST and ICMP errors included) left on another interface than their requests arrived on, by interface pair.',
      labelNames: ['vip', 'ingress', 'egress'],
      registers,
      collect() {
        this.reset();
        if (!mon.matcher) return;
        for (const [vip, t] of mon.openTally(Date.now()))
          for (const [path, n] of Object.entries(t.paths)) {
            const [i, e] = path.split('>') as [string, string];
            if (e !== '-' && i !== '?' && i !== e) this.inc({ vip, ingress: i, egress: e }, n);
          }
      },
    }),
  };
}
