// The agent's registry: Node's default metrics and the build info. Every other metric is registered by the monitor
// that observes it (agent/*/…-monitor.ts), the finding gauges by the agent, the supervisor's by the supervisor.

import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';

/** the event-loop delay histogram's sampling period (nodejs_eventloop_lag_*) */
export const EVENT_LOOP_SAMPLE_MS = 1000;

export function agentRegistry(info: { version: string; node: string; revision?: string }): Registry {
  const registry = new Registry();
  // The event-loop delay histogram samples with a timer: prom-client's default 10 ms wakes an idle agent 100 times a
  // second (half its CPU at rest); once a second still catches any stall of the loop, which is what the lag shows.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  // Gauges named *_total: promtool (rightly) refuses them.
  for (const m of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'])
    registry.removeSingleMetric(m);
  new Gauge({
    name: 'asymroute_build_info',
    help: 'Build information (package version, source revision from git describe or the image build argument); always 1.',
    labelNames: ['version', 'revision', 'node'],
    registers: [registry],
  }).set({ version: info.version, revision: info.revision ?? 'unknown', node: info.node }, 1);
  return registry;
}
