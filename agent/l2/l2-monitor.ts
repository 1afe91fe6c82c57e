// L2 (ARP for IPv4, NDP for IPv6) evidence as a monitor: the capture's neighbour packets for the VIPs, and the
// optional active probe of each VIP on its ingress (arping, ndisc6). Owns its counters and probe metrics.

import { Counter, Gauge, type Registry } from 'prom-client';
import type { PacketTap } from '../analysis/packet-feed.js';
import type { VipReport } from '../reply-path/verdicts.js';
import type { VipSpec } from '../analysis/vips.js';
import type { PacketSummary } from '../decoders/packet.js';
import type { Finding } from '../findings/registry.js';
import type { LinkNames } from '../sources/link-names.js';
import type { LogFn, Monitor, MonitorHealth, ReportSection } from '../findings/monitor.js';
import { neighbourFindings, NeighbourWatch, type NeighbourCounters, type NeighbourProbe } from './neighbour-watch.js';
import { arpingProbe, ndiscProbe } from './probe.js';

export interface L2MonitorOptions {
  names: LinkNames;
  /** how far back findings look (default 60 s) */
  windowMs?: number;
  /** the active probe of each VIP on its ingress interface */
  probe?: { enabled: boolean; intervalMs: number };
  /** the static check's view of the VIPs: their ingress, whether this node holds or announces them */
  vipReports: () => VipReport[];
  log: LogFn;
  registry: Registry;
  changed: () => void;
}

export class L2Monitor implements Monitor {
  readonly name = 'l2';
  watch: NeighbourWatch | null = null;
  private vips: VipSpec[] = [];
  /** the last probe of each VIP */
  readonly probes = new Map<string, NeighbourProbe>();
  private probing = false;
  private probeTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly m: ReturnType<typeof l2Metrics>;
  /** stable for the capture; forwards to the watch of the current VIP set */
  readonly tap: PacketTap = { observe: (d: PacketSummary, ts: number) => void this.watch?.observe(d, ts) };

  constructor(private readonly opts: L2MonitorOptions) {
    this.m = l2Metrics(opts.registry, this);
  }

  async start(): Promise<void> {
    const p = this.opts.probe;
    if (!p?.enabled) return;
    void this.probe();
    this.probeTimer = setInterval(() => void this.probe(), p.intervalMs);
    this.probeTimer.unref();
  }

  /** Follows the VIP set; counters carry over a change for the VIPs that stay. */
  follow(vips: VipSpec[]): void {
    const before = this.vips.map((v) => v.ip).join(' ');
    this.vips = vips;
    if (this.watch && before === vips.map((v) => v.ip).join(' ')) return;
    const m = this.m;
    const w = new NeighbourWatch({
      vips: vips.map((v) => v.ip),
      ifname: (i) => this.opts.names.name(i),
      windowMs: this.opts.windowMs,
      onCount: (vip, iface, kind) => m.count(vip, iface, kind),
    });
    for (const [k, c] of this.watch?.counters ?? []) if (vips.some((v) => k.startsWith(`${v.ip}|`))) w.counters.set(k, c);
    this.watch = w;
    // A first probe round as soon as there are VIPs with an ingress.
    if (this.opts.probe?.enabled && this.probes.size === 0) void this.probe();
  }

  /** One arping (IPv4) or ndisc6 (IPv6) per VIP with a known ingress, one after the other; a slow round skips a tick. */
  private async probe(): Promise<void> {
    if (this.probing || this.stopped) return;
    this.probing = true;
    try {
      for (const v of this.opts.vipReports()) {
        if (this.stopped || !v.ingress) continue;
        const at = Date.now();
        let p: NeighbourProbe;
        try {
          const r = v.ip.includes(':') ? await ndiscProbe(v.ip, v.ingress) : await arpingProbe(v.ip, v.ingress);
          p = { vip: v.ip, iface: v.ingress, at, answers: r.answers, error: null };
        } catch (e) {
          p = { vip: v.ip, iface: v.ingress, at, answers: [], error: (e as Error).message };
          if (this.probes.get(v.ip)?.error !== p.error) this.opts.log({ event: 'arp-probe-failed', vip: v.ip, error: p.error });
        }
        this.probes.set(v.ip, p);
        this.m.probed(p);
      }
    } finally {
      this.probing = false;
    }
    this.opts.changed();
  }

  findings(now: number): Finding[] {
    if (!this.watch) return [];
    const ann = new Map<string, { here: boolean; nodes: string[]; by: 'MetalLB' | 'kube-vip' }>();
    for (const v of this.vips) {
      if (v.announcement) ann.set(v.ip, { ...v.announcement, by: 'MetalLB' });
      else if (v.kubeVip) ann.set(v.ip, { here: v.kubeVip.here, nodes: v.kubeVip.nodes, by: 'kube-vip' });
    }
    const here = new Set(
      this.opts
        .vipReports()
        .filter((v) => v.holder !== null || v.announcement?.here || v.kubeVip?.here)
        .map((v) => v.ip),
    );
    return neighbourFindings(this.watch.view(now), this.watch.retries, {
      announcedBy: (vip) => ann.get(vip) ?? null,
      probe: (vip) => this.probes.get(vip) ?? null,
      answersHere: (vip) => here.has(vip),
    });
  }

  health(): MonitorHealth {
    return { ok: true, state: this.opts.probe?.enabled ? 'probing' : 'passive' };
  }

  report(): ReportSection {
    const text = [...this.probes.values()].map(
      (p) =>
        `${p.vip.includes(':') ? 'NDP' : 'ARP'} probe ${p.vip} on ${p.iface} at ${new Date(p.at).toISOString()}: ${p.error ? `FAILED (${p.error})` : p.answers.length === 0 ? 'NO ANSWER' : `answered by ${p.answers.map((x) => (x.ms === null ? x.mac : `${x.mac} (${x.ms} ms)`)).join(', ')}${p.answers.length > 1 ? ' (CONFLICT)' : ''}`}`,
    );
    return { json: { arpProbes: [...this.probes.values()] }, text };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.probeTimer) clearInterval(this.probeTimer);
  }
}

// Counters move at each counted packet and each probe; gauges of the window and the last probe are read when scraped.
function l2Metrics(registry: Registry, mon: L2Monitor) {
  const registers = [registry];
  const requests = new Counter({
    name: 'asymroute_vip_arp_requests_total',
    help: 'ARP who-has requests (NDP neighbour solicitations for IPv6) for each VIP received, by interface.',
    labelNames: ['vip', 'interface'],
    registers,
  });
  const replies = new Counter({
    name: 'asymroute_vip_arp_replies_total',
    help: 'ARP replies (NDP solicited advertisements for IPv6) for each VIP this node sent, by interface.',
    labelNames: ['vip', 'interface'],
    registers,
  });
  const announcements = new Counter({
    name: 'asymroute_vip_arp_announcements_total',
    help: 'Gratuitous ARP announcements (NDP unsolicited advertisements for IPv6) of each VIP, by interface; origin "self" when this node sent them, "other" when another host did.',
    labelNames: ['vip', 'interface', 'origin'],
    registers,
  });
  const probes = new Counter({
    name: 'asymroute_vip_arp_probes_total',
    help: 'Active probes of each VIP (arping or ndisc6) by result: answered, unanswered, error.',
    labelNames: ['vip', 'result'],
    registers,
  });
  new Gauge({
    name: 'asymroute_vip_arp_owners',
    help: 'Distinct MAC addresses that claimed each VIP (ARP or NDP replies and announcements) in the last minute; more than 1 is a conflict.',
    labelNames: ['vip'],
    registers,
    collect() {
      this.reset();
      for (const v of mon.watch?.view(Date.now()) ?? []) this.set({ vip: v.vip }, v.owners.length);
    },
  });
  new Gauge({
    name: 'asymroute_vip_arp_probe_answers',
    help: 'MACs that answered the last active probe of each VIP (--arp-probe: arping or ndisc6); 0 means nobody answered, more than 1 is a conflict. Absent when the probe failed or never ran.',
    labelNames: ['vip'],
    registers,
    collect() {
      this.reset();
      for (const p of mon.probes.values()) if (!p.error) this.set({ vip: p.vip }, p.answers.length);
    },
  });
  new Gauge({
    name: 'asymroute_vip_arp_probe_rtt_seconds',
    help: 'Fastest answer to the last active ARP probe of each IPv4 VIP (ndisc6, the IPv6 probe, measures none).',
    labelNames: ['vip'],
    registers,
    collect() {
      this.reset();
      for (const p of mon.probes.values()) {
        const ms = p.answers.map((a) => a.ms).filter((x): x is number => x !== null);
        if (ms.length > 0) this.set({ vip: p.vip }, Math.min(...ms) / 1000);
      }
    },
  });
  return {
    count(vip: string, iface: string, kind: keyof NeighbourCounters): void {
      if (kind === 'requests') requests.inc({ vip, interface: iface });
      else if (kind === 'repliesSent') replies.inc({ vip, interface: iface });
      else announcements.inc({ vip, interface: iface, origin: kind === 'announcementsSent' ? 'self' : 'other' });
    },
    probed(p: NeighbourProbe): void {
      probes.inc({ vip: p.vip, result: p.error ? 'error' : p.answers.length > 0 ? 'answered' : 'unanswered' });
    },
  };
}
