// The composition of monitors: starts and stops them, gathers their findings into the store (first/last seen,
// transitions logged as JSON lines), and serves exporters through AgentView. It holds no evidence of its own.

import { Gauge, type Registry } from 'prom-client';
import { FindingStore, type TrackedFinding, type Transition } from '../findings/store.js';
import { FINDING_TYPES, SEVERITIES } from '../findings/registry.js';
import type { Supervisor } from '../supervisor/restarter.js';
import type { AgentView, Endpoint, LogFn, Monitor, MonitorHealth, ReportSection } from '../findings/monitor.js';

export interface AgentOptions {
  log: LogFn;
  registry: Registry;
  supervisor: Supervisor;
  /** every finding transition, as it is logged */
  onTransition?: (t: Transition) => void;
  /** readiness: the monitors that must have done their first round */
  readyWhen?: () => boolean;
}

export class Agent implements AgentView {
  private readonly store = new FindingStore();
  private readonly monitors: Monitor[] = [];
  private readonly byType: Gauge<string>;
  private readonly byVip: Gauge<string>;
  private started = false;

  constructor(private readonly opts: AgentOptions) {
    const registers = [opts.registry];
    this.byType = new Gauge({
      name: 'asymroute_findings',
      help: 'Current findings by type and severity.',
      labelNames: ['type', 'severity'],
      registers,
    });
    this.byVip = new Gauge({
      name: 'asymroute_vip_findings',
      help: 'Current findings that concern a VIP, by VIP, type and severity (alerts name the VIP from here).',
      labelNames: ['vip', 'type', 'severity'],
      registers,
    });
  }

  /** Monitors start in the order added; the report lists their sections in that order. */
  add<M extends Monitor>(m: M): M {
    if (this.started) throw new Error(`monitor ${m.name} added after start`);
    this.monitors.push(m);
    return m;
  }

  async start(): Promise<void> {
    this.started = true;
    for (const m of this.monitors) await m.start();
  }

  async stop(): Promise<void> {
    for (const m of [...this.monitors].reverse()) await m.stop();
  }

  /** Gathers every monitor's findings now; monitors call it when their evidence changed. */
  gather(): void {
    const now = Date.now();
    const at = new Date(now);
    for (const m of this.monitors) for (const t of this.store.update(m.name, m.findings(now), at)) this.transition(t);
    this.observe(this.store.all());
  }

  private transition(t: Transition): void {
    this.opts.log({ ...t });
    this.opts.onTransition?.(t);
  }

  // The finding gauges change here, when the findings do.
  private observe(all: TrackedFinding[]): void {
    this.byType.reset();
    for (const type of FINDING_TYPES)
      for (const severity of SEVERITIES) {
        const n = all.filter((f) => f.type === type && f.severity === severity).length;
        if (n > 0) this.byType.set({ type, severity }, n);
      }
    this.byVip.reset();
    for (const f of all) if (f.vip) this.byVip.inc({ vip: f.vip, type: f.type, severity: f.severity });
  }

  findings(): TrackedFinding[] {
    this.gather();
    return this.store.all();
  }

  /** The findings as last gathered (for a monitor asking during its own round, which must not gather again). */
  stored(): TrackedFinding[] {
    return this.store.all();
  }

  ready(): boolean {
    return this.opts.readyWhen?.() ?? true;
  }

  health(): { ok: boolean; monitors: Record<string, MonitorHealth>; children: ReturnType<Supervisor['states']> } {
    const monitors = Object.fromEntries(this.monitors.map((m) => [m.name, m.health()]));
    return { ok: Object.values(monitors).every((h) => h.ok), monitors, children: this.opts.supervisor.states() };
  }

  report(now: number): ReportSection[] {
    return this.monitors.map((m) => m.report(now));
  }

  endpoints(): Endpoint[] {
    return this.monitors.flatMap((m) => m.endpoints?.() ?? []);
  }
}
