// docs/metrics.md, generated from the metrics the monitors register: every monitor is built (not started) on one
// registry, and the registry lists what it holds. `npm run docs` rewrites the page; test/docs/metrics-doc.test.ts
// fails when it is stale.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { BgpMonitor } from '../bgp/bgp-monitor.js';
import { CaptureMonitor } from '../capture/capture-monitor.js';
import { KubernetesMonitor } from '../kubernetes/kubernetes-monitor.js';
import { registerKubernetesUp } from '../kubernetes/metrics.js';
import { L2Monitor } from '../l2/l2-monitor.js';
import { ReplyPathMonitor } from '../reply-path/check-monitor.js';
import { Agent } from '../runtime/agent.js';
import { IpRunner } from '../sources/ip-command.js';
import { LinkNames } from '../sources/link-names.js';
import { supervisedWithMetrics } from '../supervisor/metrics.js';
import { agentRegistry } from './metrics.js';
import { authMetrics } from './auth.js';
import { repoRoot } from '../findings/findings-doc.js';

export interface MetricDoc {
  name: string;
  type: string;
  help: string;
  labels: string[];
  /** the folder that registers it */
  owner: string;
}

/** Every asymroute_ metric, with the monitor that owns it, in registration order. */
export async function metricsCatalog(): Promise<MetricDoc[]> {
  const out: MetricDoc[] = [];
  const registry = agentRegistry({ version: 'doc', node: 'doc' });
  const seen = new Set<string>();
  const take = async (owner: string) => {
    for (const m of registry.getMetricsAsArray() as unknown as Array<{
      name: string;
      labelNames?: string[];
      get(): Promise<{ type: string; help: string }>;
    }>) {
      if (seen.has(m.name)) continue;
      seen.add(m.name);
      if (!m.name.startsWith('asymroute_')) continue;
      const g = await m.get();
      out.push({ name: m.name, type: String(g.type), help: g.help, labels: [...(m.labelNames ?? [])], owner });
    }
  };
  const log = () => undefined;
  const changed = () => undefined;
  await take('exposition/metrics.ts');
  const supervisor = supervisedWithMetrics(registry);
  await take('supervisor/');
  new Agent({ log, registry, supervisor });
  await take('runtime/agent.ts');
  const checks = new ReplyPathMonitor({
    vips: [],
    autoDetect: false,
    clientCidrs: [],
    managementCidrs: [],
    gateways: {},
    intervalMs: 60_000,
    debounceMs: 300,
    log,
    registry,
    changed,
  });
  await take('reply-path/');
  const names = new LinkNames(new IpRunner());
  new CaptureMonitor({
    capture: { enabled: false, snaplen: 192, bufferKiB: 4096, flowCapacity: 1, idleMs: 1 },
    names,
    log,
    registry,
    restarter: supervisor.restarter('doc', { initialMs: 1, maxMs: 1 }),
    staticVip: (ip) => checks.vipReport(ip),
    changed,
  });
  await take('capture/');
  new L2Monitor({ names, vipReports: () => [], log, registry, changed });
  await take('l2/');
  new BgpMonitor({ peers: [], pollMs: 5000, log, registry, changed });
  await take('bgp/');
  registerKubernetesUp(registry, () => false);
  new KubernetesMonitor({
    kubeconfig: new KubeConfig(),
    node: 'doc',
    bgp: true,
    kubeVipLease: 'kube-system/plndr-svcs-lock',
    log,
    registry,
    supervisor,
    onChange: () => undefined,
  });
  await take('kubernetes/');
  authMetrics(registry);
  await take('exposition/auth.ts');
  return out;
}

export async function renderMetricsDoc(): Promise<string> {
  const rows = (await metricsCatalog()).map(
    (m) =>
      `| \`${m.name}\` | ${m.type} | ${m.labels.map((l) => `\`${l}\``).join(', ') || '—'} | \`agent/${m.owner}\` | ${m.help.replace(/\|/g, '\\|')} |`,
  );
  return [
    '# Metrics reference',
    '',
    '<!-- GENERATED from the metrics the monitors register, by `npm run docs` (agent/exposition/metrics-doc.ts); test/docs/metrics-doc.test.ts fails when this page is stale. -->',
    '',
    'Every metric is registered by the part of the agent that observes it. Labels are VIPs, interfaces, finding types,',
    'outcomes, reasons and supervised names: bounded sets, never client addresses or ports. Node.js process metrics',
    "(`process_*`, `nodejs_*`) come from prom-client's defaults. How they are observed: [design.md](design.md#runtime-monitors-one-store-exporters-that-only-read).",
    '',
    '| metric | type | labels | owner | meaning |',
    '|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}

export const METRICS_DOC = join(repoRoot(), 'docs/metrics.md');

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const before = existsSync(METRICS_DOC) ? readFileSync(METRICS_DOC, 'utf8') : '';
  const after = await renderMetricsDoc();
  if (after !== before) writeFileSync(METRICS_DOC, after);
  console.log(`${after === before ? 'unchanged' : 'wrote'} ${METRICS_DOC}`);
}
