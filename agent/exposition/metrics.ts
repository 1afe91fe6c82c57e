// The agent's registry: Node's default metrics and the build info. Every other metric is registered by the monitor
// that observes it (agent/*/…-monitor.ts), the finding gauges by the agent, the supervisor's by the supervisor.

import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';

export function agentRegistry(info: { version: string; node: string; revision?: string }): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
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
