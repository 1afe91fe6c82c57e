// docs/metrics.md is what the monitors register, and every metric the chart's alerts and the docs name exists.

import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { METRICS_DOC, metricsCatalog, renderMetricsDoc } from '../../agent/exposition/metrics-doc.js';

it('docs/metrics.md matches the metrics the monitors register (npm run docs regenerates it)', async () => {
  expect(readFileSync(METRICS_DOC, 'utf8')).toBe(await renderMetricsDoc());
});

it('the catalog covers every monitor and names no metric twice', async () => {
  const c = await metricsCatalog();
  expect(new Set(c.map((m) => m.owner))).toEqual(
    new Set([
      'exposition/metrics.ts',
      'supervisor/',
      'runtime/agent.ts',
      'reply-path/',
      'capture/',
      'l2/',
      'bgp/',
      'kubernetes/',
      'exposition/auth.ts',
    ]),
  );
  expect(new Set(c.map((m) => m.name)).size).toBe(c.length);
  for (const m of c) expect(m.help.length, m.name).toBeGreaterThan(10);
  // Labels a packet could control are never client addresses or ports.
  for (const m of c) for (const l of m.labels) expect(['client', 'port', 'src', 'sport', 'dst', 'dport'], m.name).not.toContain(l);
});
