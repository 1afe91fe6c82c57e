// The long-running agent: the static check on start, on a period and after route changes; the capture and the flow
// matcher running continuously; findings tracked with first/last seen and transitions logged as JSON lines.

import { FlowMatcher } from '../analysis/flow-matcher.js';
import { evidenceFindings } from '../analysis/live-evidence.js';
import { FindingStore, type Transition } from '../findings/store.js';
import type { Finding } from '../findings/registry.js';
import { BGP_PORT, bgpFindings, BgpTracker } from '../analysis/bgp.js';
import { arpFindings, ArpWatch, type ArpProbe } from '../analysis/l2-evidence.js';
import { feedPacket } from '../analysis/packet-feed.js';
import { checkReplyPaths, type CheckResult } from '../analysis/reply-path.js';
import { detectVips, type VipSpec } from '../analysis/vips.js';
import type { HostSnapshot } from '../model/host-state.js';
import { buildFilter, TcpdumpCapture, type CaptureEvent, type CaptureStats } from '../sources/capture.js';
import { readHostState } from '../sources/host-state.js';
import { readConntrack } from '../sources/netfilter.js';
import type { ServiceEndpoint } from '../parsers/kubernetes.js';
import type { EndpointInfo } from '../analysis/forward-path.js';
import { IpRunner, kernelOracle } from '../sources/ip-command.js';
import { RouteMonitor } from '../sources/ip-monitor.js';
import type { KubeStatus } from '../sources/kubernetes.js';
import { LinkNames } from '../sources/link-names.js';
import { arpingProbe, ndiscProbe } from '../sources/arping.js';
import { readTcpSockets } from '../sources/ss.js';

export type LogFn = (record: Record<string, unknown>) => void;

export interface AgentOptions {
  vips: VipSpec[];
  /** re-detect VIP-like local addresses at every check when no VIPs are given */
  autoDetect: boolean;
  clientCidrs: string[];
  managementCidrs: string[];
  gateways: Record<string, string>;
  intervalMs: number;
  debounceMs: number;
  /** sampleBits: TCP/UDP data of 1 in 2^sampleBits flows crosses into user space (0: all) */
  capture: { enabled: boolean; snaplen: number; bufferKiB: number; flowCapacity: number; idleMs: number; sampleBits?: number };
  log: LogFn;
  /** VIPs from Kubernetes Services, read at every check (null: Kubernetes not in use) */
  kubernetesVips?: (() => VipSpec[]) | null;
  /** the Services' EndpointSlice backends, read at every check */
  kubernetesEndpoints?: (() => ServiceEndpoint[]) | null;
  /** every finding transition, with the VIP's spec (and so its Service) when it concerns one */
  onTransition?: (t: Transition, vip: VipSpec | null) => void;
  /** how far back ARP/NDP findings look (default 60 s) */
  arpWindowMs?: number;
  /** BGP session health: `ss` polls and port 179 in the capture; peers that must be up */
  bgp?: { enabled: boolean; peers: string[]; pollMs: number };
  /** BGP peers Kubernetes expects this node to have (MetalLB BGPPeer), peer -> who expects it; read at each poll */
  bgpExpected?: (() => Map<string, string>) | null;
  /** the active probe of each VIP on its ingress interface (arping for IPv4, ndisc6 for IPv6) */
  arpProbe?: { enabled: boolean; intervalMs: number };
}

/** EndpointSlice backends joined to VIPs by their Service. */
export function endpointsByVip(vips: VipSpec[], eps: ServiceEndpoint[]): Record<string, EndpointInfo[]> {
  const out: Record<string, EndpointInfo[]> = {};
  for (const v of vips) {
    if (!v.service) continue;
    const mine = eps.filter((e) => e.service === v.service).map((e) => ({ ip: e.ip, port: e.port, node: e.node }));
    if (mine.length > 0) out[v.ip] = mine;
  }
  return out;
}

/** Configured VIPs plus the Services' (a configured ingress wins, the Service name is kept); local detection only when both are empty. */
export function mergeVips(configured: VipSpec[], fromKubernetes: VipSpec[]): VipSpec[] {
  const out = new Map<string, VipSpec>();
  for (const v of fromKubernetes) if (!out.has(v.ip)) out.set(v.ip, v);
  for (const v of configured) {
    const k = out.get(v.ip);
    // The operator's ingress wins over MetalLB's; without one, what Kubernetes knows is kept.
    out.set(v.ip, k ? { ...k, source: v.source, ...(v.ingress ? { ingress: v.ingress, ingressReason: undefined } : {}) } : v);
  }
  return [...out.values()];
}

export interface CheckStatus {
  at: string | null;
  durationMs: number | null;
  reason: string | null;
  error: string | null;
  count: number;
  failures: number;
}

export class Agent {
  readonly findings = new FindingStore();
  readonly ip = new IpRunner();
  snapshot: HostSnapshot | null = null;
  result: CheckResult | null = null;
  vips: VipSpec[] = [];
  readonly status: CheckStatus = { at: null, durationMs: null, reason: null, error: null, count: 0, failures: 0 };
  readonly durations: number[] = [];
  matcher: FlowMatcher | null = null;
  arp: ArpWatch | null = null;
  bgp: BgpTracker | null = null;
  bgpError: string | null = null;
  private bgpTimer: NodeJS.Timeout | null = null;
  /** the last ARP probe of each VIP, and probe counts by "vip|result" */
  readonly probes = new Map<string, ArpProbe>();
  readonly probeCounts = new Map<string, number>();
  private probeTimer: NodeJS.Timeout | null = null;
  private probing = false;
  capture: TcpdumpCapture | null = null;
  captureStats: { packets: number; drops: number; restarts: number; linktypeOk: boolean | null; lastError: string | null } = { packets: 0, drops: 0, restarts: 0, linktypeOk: null, lastError: null };
  private dropsBase = 0;
  private lastStats: CaptureStats | null = null;
  private monitor: RouteMonitor | null = null;
  private timer: NodeJS.Timeout | null = null;
  private expiryTimer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private readonly names: LinkNames;
  readonly decodeFailures: Record<string, number> = {};
  /** the Service watcher's status, when Kubernetes is in use */
  kubernetes: KubeStatus | null = null;
  /** the MetalLB ServiceL2Status watcher's status, when Kubernetes is in use */
  metallbL2: KubeStatus | null = null;
  /** the MetalLB BGPPeer watcher's status, when Kubernetes and BGP health are in use */
  metallbBgp: KubeStatus | null = null;
  private stopped = false;

  constructor(readonly opts: AgentOptions) {
    this.names = new LinkNames(this.ip, { onChange: () => this.matcher?.refreshInterfaces() });
  }

  /** What the capture filter keeps, for the report and the metrics. */
  get captureSampling(): { sampleBits: number; flowsWithData: number; text: string } {
    const k = this.opts.capture.sampleBits ?? 0;
    const text = k === 0 ? 'every packet to and from the VIPs' : `TCP SYN, FIN and RST of every flow; TCP and UDP data of 1 in ${2 ** k} flows (client port with its low ${k} bits zero)`;
    return { sampleBits: k, flowsWithData: 1 / 2 ** k, text };
  }

  get captureWanted(): boolean {
    return this.opts.capture.enabled && this.vips.length > 0;
  }

  get ready(): boolean {
    return this.status.count > 0;
  }

  async start(): Promise<void> {
    await this.names.refresh().catch((e: Error) => this.opts.log({ event: 'link-names-failed', error: e.message }));
    if (this.opts.bgp?.enabled) {
      this.bgp = new BgpTracker(this.opts.bgp.peers, Date.now());
      await this.pollBgp();
      if (this.stopped) return;
      this.bgpTimer = setInterval(() => void this.pollBgp(), this.opts.bgp.pollMs);
      this.bgpTimer.unref();
    }
    await this.check('start');
    // Stopped while starting (a SIGTERM right after listening): start nothing more, or it outlives stop().
    if (this.stopped) return;
    if (this.opts.arpProbe?.enabled) {
      void this.probeArp();
      this.probeTimer = setInterval(() => void this.probeArp(), this.opts.arpProbe.intervalMs);
      this.probeTimer.unref();
    }
    this.monitor = new RouteMonitor({ debounceMs: this.opts.debounceMs, onChange: () => void this.check('route-change'), onExit: (code, stderr) => this.opts.log({ event: 'monitor-exited', code, stderr }) });
    this.monitor.start();
    this.timer = setInterval(() => void this.check('period'), this.opts.intervalMs);
    this.timer.unref();
  }

  /** Runs a check now; overlapping requests collapse into one more run. */
  check(reason: string): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.runCheck(reason).finally(() => {
      this.running = null;
      if (this.again && !this.stopped) {
        this.again = false;
        void this.check('coalesced');
      }
    });
    return this.running;
  }

  private async runCheck(reason: string): Promise<void> {
    const t0 = performance.now();
    try {
      const snap = await readHostState({ ip: this.ip });
      const merged = mergeVips(this.opts.vips, this.opts.kubernetesVips?.() ?? []);
      const vips = merged.length === 0 && this.opts.autoDetect ? detectVips(snap).vips : merged;
      await this.ensureCapture(vips);
      const observed = this.matcher ? [...this.matcher.observedClients().values()].flat() : [];
      const result = await checkReplyPaths({
        snapshot: snap,
        vips,
        clientCidrs: this.opts.clientCidrs,
        observedClients: observed,
        managementCidrs: this.opts.managementCidrs,
        gateways: this.opts.gateways,
        oracle: kernelOracle(this.ip),
        conntrack: await readConntrack(vips.map((v) => v.ip)),
        endpoints: endpointsByVip(vips, this.opts.kubernetesEndpoints?.() ?? []),
      });
      this.snapshot = snap;
      this.result = result;
      // A VIP that disappears keeps its spec until its findings have cleared.
      this.vips = [...vips, ...this.vips.filter((o) => !vips.some((v) => v.ip === o.ip) && this.findings.all().some((f) => f.vip === o.ip))];
      this.logTransitions(this.findings.update('static', result.findings, new Date()));
      this.status.error = null;
    } catch (e) {
      this.status.failures++;
      this.status.error = (e as Error).message;
      this.opts.log({ event: 'check-failed', reason, error: (e as Error).message });
    } finally {
      const ms = performance.now() - t0;
      this.status.at = new Date().toISOString();
      this.status.durationMs = ms;
      this.status.reason = reason;
      this.status.count++;
      this.durations.push(ms / 1000);
    }
  }

  private logTransitions(ts: Transition[]): void {
    for (const t of ts) {
      this.opts.log({ ...t });
      this.opts.onTransition?.(t, this.vips.find((v) => v.ip === t.vip) ?? null);
    }
  }

  private async pollBgp(): Promise<void> {
    if (!this.bgp || this.stopped) return;
    try {
      const r = await readTcpSockets(BGP_PORT);
      if (r.bad.length > 0) this.opts.log({ event: 'ss-unparsed', lines: r.bad.slice(0, 3) });
      const expected = new Map([...(this.opts.bgpExpected?.() ?? []), ...(this.opts.bgp?.peers ?? []).map((p) => [p, '--bgp-peer'] as [string, string])]);
      this.bgp.setExpected(expected, Date.now());
      this.bgp.poll(r.sockets, Date.now());
      if (this.bgpError) this.opts.log({ event: 'bgp-poll-recovered' });
      this.bgpError = null;
    } catch (e) {
      if ((e as Error).message !== this.bgpError) this.opts.log({ event: 'bgp-poll-failed', error: (e as Error).message });
      this.bgpError = (e as Error).message;
    }
    this.liveFindings();
  }

  /** One arping (IPv4) or ndisc6 (IPv6) per VIP with a known ingress, one after the other; a slow round skips a tick. */
  private async probeArp(): Promise<void> {
    if (this.probing || this.stopped) return;
    this.probing = true;
    try {
      for (const v of this.result?.vips ?? []) {
        if (this.stopped || !v.ingress) continue;
        const at = Date.now();
        let p: ArpProbe;
        try {
          const r = v.ip.includes(':') ? await ndiscProbe(v.ip, v.ingress) : await arpingProbe(v.ip, v.ingress);
          p = { vip: v.ip, iface: v.ingress, at, answers: r.answers, error: null };
        } catch (e) {
          p = { vip: v.ip, iface: v.ingress, at, answers: [], error: (e as Error).message };
          if (this.probes.get(v.ip)?.error !== p.error) this.opts.log({ event: 'arp-probe-failed', vip: v.ip, error: p.error });
        }
        this.probes.set(v.ip, p);
        const result = p.error ? 'error' : p.answers.length > 0 ? 'answered' : 'unanswered';
        this.probeCounts.set(`${v.ip}|${result}`, (this.probeCounts.get(`${v.ip}|${result}`) ?? 0) + 1);
      }
    } finally {
      this.probing = false;
    }
    this.liveFindings();
  }

  /** Live evidence from the flows still open, ARP and BGP; called on scrapes, reports and polls. */
  liveFindings(): void {
    const f: Finding[] = [];
    if (this.matcher) {
      const tally = this.matcher.openTally(Date.now());
      f.push(...evidenceFindings({ tally, skipped: this.matcher.skipped, interfacesKnown: this.captureStats.linktypeOk !== false, staticVip: (vip) => this.result?.vips.find((v) => v.ip === vip) ?? null }));
    }
    if (this.bgp) f.push(...bgpFindings(this.bgp.view(Date.now())));
    if (this.arp) {
      const ann = new Map(this.vips.filter((v) => v.announcement).map((v) => [v.ip, v.announcement!]));
      const here = new Set((this.result?.vips ?? []).filter((v) => v.holder !== null || v.announcement?.here).map((v) => v.ip));
      f.push(...arpFindings(this.arp.view(Date.now()), this.arp.retries, { announcedBy: (vip) => ann.get(vip) ?? null, probe: (vip) => this.probes.get(vip) ?? null, answersHere: (vip) => here.has(vip) }));
    }
    this.logTransitions(this.findings.update('live', f, new Date()));
  }

  private async ensureCapture(vips: VipSpec[]): Promise<void> {
    const c = this.opts.capture;
    if (!c.enabled || vips.length === 0) return;
    const bgp = this.opts.bgp?.enabled === true;
    const filter = buildFilter(vips.map((v) => v.ip), { bgp, sampleBits: c.sampleBits });
    if (this.capture && this.capture.args.at(-1) === filter) return;
    if (this.capture) {
      this.opts.log({ event: 'capture-restart', reason: 'VIP set changed', filter });
      await this.capture.stop();
    }
    this.matcher = new FlowMatcher({ vips: vips.map((v) => v.ip), capacity: c.flowCapacity, idleMs: c.idleMs, ifname: (i) => this.names.name(i) });
    const m = this.matcher;
    // Counters carry over a VIP set change for the VIPs that stay.
    const arp = new ArpWatch({ vips: vips.map((v) => v.ip), ifname: (i) => this.names.name(i), windowMs: this.opts.arpWindowMs });
    for (const [k, c] of this.arp?.counters ?? []) if (vips.some((v) => k.startsWith(`${v.ip}|`))) arp.counters.set(k, c);
    this.arp = arp;
    this.dropsBase = this.captureStats.drops;
    this.capture = new TcpdumpCapture({
      vips: vips.map((v) => v.ip),
      bgp,
      sampleBits: c.sampleBits,
      snaplen: c.snaplen,
      bufferKiB: c.bufferKiB,
      onPacket: (buf, off, caplen, _len, ts, linktype) => {
        this.captureStats.packets++;
        feedPacket(m, this.decodeFailures, linktype, buf, off, caplen, ts, { arp, bgp: this.bgp });
      },
      onEvent: (e) => this.onCaptureEvent(e),
    });
    await this.capture.start();
    if (!this.expiryTimer) {
      this.expiryTimer = setInterval(() => {
        this.matcher?.expire(Date.now());
        this.liveFindings();
      }, 5000);
      this.expiryTimer.unref();
    }
  }

  private onCaptureEvent(e: CaptureEvent): void {
    if (e.type === 'stats') {
      // tcpdump's counters restart with each child: carry the total across restarts.
      if (this.lastStats && e.stats.droppedByKernel < this.lastStats.droppedByKernel) this.dropsBase += this.lastStats.droppedByKernel;
      this.lastStats = e.stats;
      this.captureStats.drops = this.dropsBase + e.stats.droppedByKernel;
      return;
    }
    if (e.type === 'linktype') this.captureStats.linktypeOk = e.ok;
    if (e.type === 'exited') {
      this.captureStats.restarts = this.capture?.restarts ?? 0;
      this.captureStats.lastError = e.stderr || `exit ${e.code ?? e.signal}`;
      if (this.lastStats) this.dropsBase += this.lastStats.droppedByKernel;
      this.lastStats = null;
    }
    this.opts.log({ event: `capture-${e.type}`, ...e });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    // The check in flight may start a capture: wait for it first, then stop what it started.
    await this.running;
    if (this.timer) clearInterval(this.timer);
    if (this.bgpTimer) clearInterval(this.bgpTimer);
    if (this.probeTimer) clearInterval(this.probeTimer);
    if (this.expiryTimer) clearInterval(this.expiryTimer);
    await this.monitor?.stop();
    await this.capture?.stop();
  }
}
