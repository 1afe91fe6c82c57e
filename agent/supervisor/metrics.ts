// The supervisor's metrics: restarts counted when they happen, state read when scraped.

import { Counter, Gauge, type Registry } from 'prom-client';
import { Supervisor } from './restarter.js';

/** A supervisor whose restarts and failures are counted by name (a fixed set: tcpdump, ip-monitor, each watch). */
export function supervisedWithMetrics(registry: Registry): Supervisor {
  const registers = [registry];
  const restarts = new Counter({
    name: 'asymroute_supervised_restarts_total',
    help: 'Restarts of a supervised child or watch (tcpdump, ip-monitor, each Kubernetes list+watch), after backoff with jitter.',
    labelNames: ['name'],
    registers,
  });
  const failures = new Counter({
    name: 'asymroute_supervised_failures_total',
    help: 'Exits or failures of a supervised child or watch.',
    labelNames: ['name'],
    registers,
  });
  const sup = new Supervisor({ onFailure: (s) => failures.inc({ name: s.name }), onRestart: (s) => restarts.inc({ name: s.name }) });
  new Gauge({
    name: 'asymroute_supervised_up',
    help: '1 while a supervised child or watch runs, 0 while it waits for its restart (backoff) or never started.',
    labelNames: ['name'],
    registers,
    collect() {
      this.reset();
      for (const s of sup.states()) if (s.state !== 'stopped') this.set({ name: s.name }, s.state === 'running' ? 1 : 0);
    },
  });
  return sup;
}
