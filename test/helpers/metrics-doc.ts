// The metrics docs/metrics.md lists (the page generated from the registry the monitors fill), read from the page
// itself: what operators are told exists is what dashboards, runbooks and alerts may name.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './cli.js';

export interface DocumentedMetric {
  type: string;
  labels: string[];
}

export function documentedMetrics(): Map<string, DocumentedMetric> {
  const out = new Map<string, DocumentedMetric>();
  for (const line of readFileSync(join(ROOT, 'docs', 'metrics.md'), 'utf8').split('\n')) {
    const m = /^\| `([a-z_:][a-z0-9_:]*)` \| (\w+) \| ([^|]*) \|/.exec(line);
    if (!m) continue;
    const labels = [...m[3]!.matchAll(/`([a-zA-Z_]\w*)`/g)].map((x) => x[1]!);
    out.set(m[1]!, { type: m[2]!, labels });
  }
  return out;
}

/** The series names a documented metric exposes: histograms add _bucket, _sum and _count. */
export function exposedNames(metrics: Map<string, DocumentedMetric>): Set<string> {
  const out = new Set<string>();
  for (const [name, m] of metrics) {
    out.add(name);
    if (m.type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) out.add(name + s);
  }
  return out;
}
