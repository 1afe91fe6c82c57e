// The static reply-path check as a monitor: on start, on a period, after a netlink change (debounced `ip monitor`)
// and when a VIP source changes. It owns the VIP set the other monitors follow and the check's metrics.

import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { checkReplyPaths, type CheckResult } from './check.js';
import type { VipReport } from './verdicts.js';
import type { KernelOracle } from '../model/route-question.js';
import { detectVips, type VipSpec } from '../analysis/vips.js';
import type { EndpointInfo } from './forward-path.js';
import { finding, type Finding } from '../findings/registry.js';
import { parseIp, parsePrefix, prefixContains } from '../net/ip.js';
import type { HostSnapshot } from '../model/host-state.js';
import type { ConntrackRead } from '../model/netfilter.js';
import type { ServiceEndpoint } from '../kubernetes/objects.js';
import { readHostState } from '../sources/host-state.js';
import { IpRunner, kernelOracle } from '../sources/ip-command.js';
import { NetlinkMonitor } from '../sources/ip-monitor.js';
import { readConntrack } from '../sources/netfilter.js';
import type { Restarter } from '../supervisor/restarter.js';
import type { Endpoint, LogFn, Monitor, MonitorHealth, ReportSection } from '../findings/monitor.js';

/** EndpointSlice backends joined to VIPs by their Service. */
function endpointsByVip(vips: VipSpec[], eps: ServiceEndpoint[]): Record<string, EndpointInfo[]> {
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

/** Default cap on the VIPs one node watches (--max-vips). */
export const DEFAULT_MAX_VIPS = 64;
/** /v1/vips lists at most this many of the VIPs not watched (the counts cover all). */
const NOT_WATCHED_LISTED = 256;

export type NotWatchedReason = 'outside-vip-cidrs' | 'over-max-vips';
export const NOT_WATCHED_REASONS: NotWatchedReason[] = ['outside-vip-cidrs', 'over-max-vips'];

export interface NotWatchedVip {
  ip: string;
  service?: string;
  source: VipSpec['source'];
  reason: NotWatchedReason;
}

export interface VipLimits {
  /** at most this many VIPs are watched */
  maxVips: number;
  /** when not empty, Kubernetes Service VIPs outside these CIDRs are not watched (configured VIPs always are) */
  vipCidrs: string[];
}

/**
 * Anyone who may create a Service sets VIPs on every node (spec.externalIPs): Kubernetes VIPs outside the allowlist
 * are not watched, and past the cap neither is the rest. Kept first: configured VIPs, then the Kubernetes VIPs this
 * node announces (MetalLB L2) or holds (kube-vip), then the others, each by address, so the set stays the same from one check to the next.
 */
export function limitVips(vips: VipSpec[], limits: VipLimits): { watched: VipSpec[]; notWatched: NotWatchedVip[] } {
  const cidrs = limits.vipCidrs.map((c) => parsePrefix(c)).filter((p) => p !== null);
  const notWatched: NotWatchedVip[] = [];
  const skip = (v: VipSpec, reason: NotWatchedReason) =>
    notWatched.push({ ip: v.ip, ...(v.service ? { service: v.service } : {}), source: v.source, reason });
  const allowed: VipSpec[] = [];
  for (const v of vips) {
    const ip = parseIp(v.ip);
    if (v.source === 'kubernetes' && cidrs.length > 0 && !(ip && cidrs.some((p) => p.family === ip.family && prefixContains(p, ip))))
      skip(v, 'outside-vip-cidrs');
    else allowed.push(v);
  }
  if (allowed.length <= limits.maxVips) return { watched: allowed, notWatched };
  const rank = (v: VipSpec) => (v.source !== 'kubernetes' ? 0 : v.announcement?.here || v.kubeVip?.here ? 1 : 2);
  const key = (v: VipSpec) => {
    const ip = parseIp(v.ip);
    return ip ? (BigInt(ip.family) << 128n) | ip.value : 0n;
  };
  const sorted = [...allowed].sort((a, b) => rank(a) - rank(b) || (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  for (const v of sorted.slice(limits.maxVips)) skip(v, 'over-max-vips');
  return { watched: sorted.slice(0, limits.maxVips), notWatched };
}

// One finding for every VIP left out, by reason; a few named, the rest counted.
function notWatchedFinding(nw: NotWatchedVip[], limits: VipLimits): Finding | null {
  if (nw.length === 0) return null;
  const outside = nw.filter((x) => x.reason === 'outside-vip-cidrs');
  const over = nw.filter((x) => x.reason === 'over-max-vips');
  const parts = [
    outside.length ? `${outside.length} outside --vip-cidrs (${limits.vipCidrs.join(', ')})` : null,
    over.length ? `${over.length} over --max-vips ${limits.maxVips}` : null,
  ].filter((x) => x !== null);
  const named = (l: NotWatchedVip[]) =>
    l
      .slice(0, 10)
      .map((x) => `${x.ip}${x.service ? ` (${x.service})` : ''}`)
      .join(', ') + (l.length > 10 ? `, and ${l.length - 10} more` : '');
  return finding('vips-not-watched', {
    vip: null,
    summary: `${nw.length} VIPs are not watched (no route questions, capture or per-VIP series): ${parts.join('; ')}`,
    evidence: [
      ...(outside.length ? [`outside --vip-cidrs: ${named(outside)}`] : []),
      ...(over.length ? [`over --max-vips: ${named(over)}`] : []),
    ],
    remediation: [
      {
        title: 'if these are real VIPs, widen --vip-cidrs or raise --max-vips; if not, find who set them (kubectl get svc -A -o wide)',
        commands: [],
        note: 'any user who may create a Service can set spec.externalIPs; an admission policy (or the DenyServiceExternalIPs admission plugin) keeps them in check',
      },
    ],
  });
}

export interface CheckStatus {
  at: string | null;
  durationMs: number | null;
  reason: string | null;
  error: string | null;
  count: number;
  failures: number;
  /** when the last check that succeeded finished */
  lastSuccessAt: string | null;
}

export interface ReplyPathOptions {
  vips: VipSpec[];
  /** re-detect VIP-like local addresses at every check when no VIPs are given */
  autoDetect: boolean;
  clientCidrs: string[];
  managementCidrs: string[];
  gateways: Record<string, string>;
  intervalMs: number;
  debounceMs: number;
  log: LogFn;
  registry: Registry;
  /** the cap on VIPs and the CIDRs Kubernetes VIPs must fall in (default: DEFAULT_MAX_VIPS, no allowlist) */
  limits?: VipLimits;
  /** VIPs from Kubernetes Services, read at every check (absent: Kubernetes not in use) */
  kubernetesVips?: () => VipSpec[];
  /** the Services' EndpointSlice backends, read at every check */
  kubernetesEndpoints?: () => ServiceEndpoint[];
  /** clients the capture saw, per VIP, so their replies are asked about too */
  observedClients?: () => string[];
  /** run after every check with its VIPs, before the findings are gathered (the capture and L2 watch follow them) */
  onChecked?: (vips: VipSpec[]) => Promise<void>;
  /** the agent gathers findings */
  changed: () => void;
  /** whether any finding still names a VIP (a VIP that left keeps its spec, and Service, until they clear) */
  stillReported?: (vip: string) => boolean;
  /** restarts `ip monitor`; absent: no netlink watch (tests drive check() themselves) */
  netlinkRestarter?: Restarter;
  /** for tests: the snapshot, kernel and conntrack sources */
  readSnapshot?: () => Promise<HostSnapshot>;
  oracle?: KernelOracle;
  readConntrack?: (vips: string[]) => Promise<ConntrackRead | null>;
}

export class ReplyPathMonitor implements Monitor {
  readonly name = 'reply-path';
  snapshot: HostSnapshot | null = null;
  result: CheckResult | null = null;
  /** the VIPs of the last check, plus those that left while their findings clear */
  vips: VipSpec[] = [];
  /** VIPs left out by the last check (limitVips) */
  notWatched: NotWatchedVip[] = [];
  readonly status: CheckStatus = { at: null, durationMs: null, reason: null, error: null, count: 0, failures: 0, lastSuccessAt: null };
  private readonly ip = new IpRunner();
  private netlink: NetlinkMonitor | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private readonly m: ReturnType<typeof checkMetrics>;

  constructor(private readonly opts: ReplyPathOptions) {
    this.m = checkMetrics(opts.registry);
    // Both results from the start, so an alert can tell "only errors" from "no series yet".
    for (const result of ['ok', 'error']) this.m.checks.inc({ result }, 0);
  }

  /** Ready once a check has succeeded: a failed one says nothing about the reply paths. */
  get ready(): boolean {
    return this.status.lastSuccessAt !== null;
  }

  async start(): Promise<void> {
    await this.check('start');
    // Stopped while starting (a SIGTERM right after listening): start nothing more, or it outlives stop().
    if (this.stopped) return;
    if (this.opts.netlinkRestarter) {
      const log = this.opts.log;
      this.netlink = new NetlinkMonitor({
        debounceMs: this.opts.debounceMs,
        onChange: () => void this.check('route-change'),
        onExit: (code, stderr) => log({ event: 'monitor-exited', code, stderr }),
        restarter: this.opts.netlinkRestarter,
      });
      this.netlink.start();
    }
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

  // A check with many VIPs asks the kernel hundreds of questions: once stop() is called the rest fail at once, so a
  // SIGTERM is not held up by a check nobody will read.
  private stoppable(oracle: KernelOracle): KernelOracle {
    return (q) => (this.stopped ? Promise.reject(new Error('the agent is stopping')) : oracle(q));
  }

  private async runCheck(reason: string): Promise<void> {
    const t0 = performance.now();
    let ok = false;
    let vips: VipSpec[] | null = null;
    try {
      const snap = await (this.opts.readSnapshot ?? (() => readHostState({ ip: this.ip })))();
      const merged = mergeVips(this.opts.vips, this.opts.kubernetesVips?.() ?? []);
      const limited = limitVips(merged.length === 0 && this.opts.autoDetect ? detectVips(snap).vips : merged, this.limits);
      const found = limited.watched;
      this.notWatched = limited.notWatched;
      vips = found;
      const result = await checkReplyPaths({
        snapshot: snap,
        vips: found,
        clientCidrs: this.opts.clientCidrs,
        observedClients: this.opts.observedClients?.() ?? [],
        managementCidrs: this.opts.managementCidrs,
        gateways: this.opts.gateways,
        oracle: this.stoppable(this.opts.oracle ?? kernelOracle(this.ip)),
        conntrack: await (this.opts.readConntrack ?? readConntrack)(found.map((v) => v.ip)),
        endpoints: endpointsByVip(vips, this.opts.kubernetesEndpoints?.() ?? []),
      });
      this.snapshot = snap;
      this.result = result;
      // A VIP that disappears keeps its spec until its findings have cleared.
      const reported = this.opts.stillReported ?? (() => false);
      const stale = this.vips.filter((o) => !found.some((v) => v.ip === o.ip) && reported(o.ip));
      this.vips = [...found, ...stale];
      this.status.error = null;
      ok = true;
    } catch (e) {
      this.status.failures++;
      this.status.error = (e as Error).message;
      if (!this.stopped) this.opts.log({ event: 'check-failed', reason, error: (e as Error).message });
    } finally {
      const ms = performance.now() - t0;
      this.status.at = new Date().toISOString();
      this.status.durationMs = ms;
      this.status.reason = reason;
      this.status.count++;
      this.observe(ok, ms / 1000);
    }
    // Even when the check itself failed, the capture and the L2 watch follow the VIPs it found.
    if (vips && !this.stopped) {
      try {
        await this.opts.onChecked?.(vips);
      } catch (e) {
        this.opts.log({ event: 'follow-vips-failed', error: (e as Error).message });
      }
    }
    this.opts.changed();
  }

  // The check's metrics change here, at the end of each check.
  private observe(ok: boolean, seconds: number): void {
    const m = this.m;
    m.duration.observe(seconds);
    m.checks.inc({ result: ok ? 'ok' : 'error' });
    m.lastRun.set(Date.now() / 1000);
    for (const reason of NOT_WATCHED_REASONS) m.notWatched.set({ reason }, this.notWatched.filter((x) => x.reason === reason).length);
    if (!ok) return;
    this.status.lastSuccessAt = new Date().toISOString();
    m.lastSuccess.set(Date.now() / 1000);
    m.asymmetric.reset();
    m.info.reset();
    m.announced.reset();
    for (const v of this.result?.vips ?? []) {
      m.info.set({ vip: v.ip, ingress: v.ingress ?? 'unknown', source: v.source }, 1);
      if (v.announcement) m.announced.set({ vip: v.ip, mode: 'l2' }, v.announcement.here ? 1 : 0);
      if (v.bgp) m.announced.set({ vip: v.ip, mode: 'bgp' }, v.bgp.here ? 1 : 0);
      if (v.kubeVip) m.announced.set({ vip: v.ip, mode: 'kube-vip' }, v.kubeVip.here ? 1 : 0);
      const p = v.paths.find((x) => x.clientKind === 'default-destination');
      if (p)
        m.asymmetric.set(
          { vip: v.ip, ingress: v.ingress ?? 'unknown', egress: p.egress.join(',') || 'none' },
          p.verdict === 'asymmetric' ? 1 : 0,
        );
    }
    const rp = this.snapshot?.ipReversePathFilter ?? 0;
    // The kernel's own counter: follow it (it only goes back on a reboot, when the agent restarts too).
    if (rp > m.rpSeen) m.rpDrops.inc(rp - m.rpSeen);
    m.rpSeen = Math.max(m.rpSeen, rp);
  }

  get limits(): VipLimits {
    return this.opts.limits ?? { maxVips: DEFAULT_MAX_VIPS, vipCidrs: [] };
  }

  vipReport(ip: string): VipReport | null {
    return this.result?.vips.find((v) => v.ip === ip) ?? null;
  }

  findings(): Finding[] {
    const nw = notWatchedFinding(this.notWatched, this.limits);
    return [...(this.result?.findings ?? []), ...(nw ? [nw] : [])];
  }

  /** What /v1/vips and the report say about the VIPs left out. */
  notWatchedView(): { count: number; byReason: Record<NotWatchedReason, number>; vips: NotWatchedVip[] } {
    const byReason = Object.fromEntries(NOT_WATCHED_REASONS.map((r) => [r, this.notWatched.filter((x) => x.reason === r).length]));
    return {
      count: this.notWatched.length,
      byReason: byReason as Record<NotWatchedReason, number>,
      vips: this.notWatched.slice(0, NOT_WATCHED_LISTED),
    };
  }

  health(): MonitorHealth {
    return {
      ok: true,
      state: this.status.error ? 'check-failing' : this.ready ? 'checked' : 'not-yet-checked',
      detail: { lastError: this.status.error, netlinkWatch: this.netlink ? (this.netlink.running ? 'running' : 'down') : 'off' },
    };
  }

  report(): ReportSection {
    const s = this.status;
    const nw = this.notWatchedView();
    const l = this.limits;
    return {
      json: { lastCheck: s, vipsNotWatched: nw },
      text: [
        `Last check: ${s.at ?? 'never'} (${s.reason ?? '-'}, ${s.durationMs?.toFixed(0) ?? '-'} ms)${s.error ? `, FAILED: ${s.error}` : ''}`,
        ...(nw.count > 0
          ? [
              `VIPs not watched: ${nw.count} (${nw.byReason['outside-vip-cidrs']} outside --vip-cidrs ${l.vipCidrs.join(',') || '-'}, ${nw.byReason['over-max-vips']} over --max-vips ${l.maxVips})`,
            ]
          : []),
      ],
    };
  }

  endpoints(): Endpoint[] {
    return [
      { path: '/v1/vips', get: () => ({ body: { vips: this.result?.vips ?? [], notWatched: this.notWatchedView() } }) },
      {
        path: '/v1/routes',
        get: () => (this.snapshot ? { body: this.snapshot } : { code: 503, body: { error: 'no check has completed yet' } }),
      },
    ];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    // The check in flight may start a capture: wait for it first, then stop what it started.
    await this.running;
    if (this.timer) clearInterval(this.timer);
    await this.netlink?.stop();
  }
}

function checkMetrics(registry: Registry) {
  const registers = [registry];
  return {
    duration: new Histogram({
      name: 'asymroute_check_duration_seconds',
      help: 'Duration of the static reply-path check.',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    checks: new Counter({ name: 'asymroute_checks_total', help: 'Static checks run, by result.', labelNames: ['result'], registers }),
    lastRun: new Gauge({
      name: 'asymroute_check_last_run_timestamp_seconds',
      help: 'When the last static check finished, whether it succeeded or failed (Unix time).',
      registers,
    }),
    lastSuccess: new Gauge({
      name: 'asymroute_check_last_success_timestamp_seconds',
      help: 'When the last static check that succeeded finished (Unix time); 0 until one has.',
      registers,
    }),
    asymmetric: new Gauge({
      name: 'asymroute_reply_path_asymmetric',
      help: 'Per VIP: 1 when replies to an Internet client (the default-route destination) leave on another interface than requests arrive on, else 0.',
      labelNames: ['vip', 'ingress', 'egress'],
      registers,
    }),
    info: new Gauge({
      name: 'asymroute_vip_info',
      help: 'The VIPs this agent checks, with the interface their requests arrive on; always 1.',
      labelNames: ['vip', 'ingress', 'source'],
      registers,
    }),
    announced: new Gauge({
      name: 'asymroute_vip_announced',
      help: "Who announces the VIP, by mode: l2 (MetalLB ServiceL2Status), bgp (MetalLB ServiceBGPStatus) or kube-vip (kube-vip's Lease, else its kube-vip.io/vipHost annotation): 1 when this node announces, advertises or holds it, 0 when only other nodes do; absent when unknown. At most three series per watched VIP (--max-vips).",
      labelNames: ['vip', 'mode'],
      registers,
    }),
    rpDrops: new Counter({
      name: 'asymroute_kernel_rp_filter_drops_total',
      help: "The kernel's TcpExt IPReversePathFilter counter (packets dropped by rp_filter), as of the last check.",
      registers,
    }),
    notWatched: new Gauge({
      name: 'asymroute_vips_not_watched',
      help: 'VIPs the last check left out, by reason: outside-vip-cidrs (a Kubernetes VIP outside --vip-cidrs), over-max-vips (past --max-vips). One series per reason, whatever their number.',
      labelNames: ['reason'],
      registers,
    }),
    rpSeen: 0,
  };
}
