// One runbook per alert: every alert the chart renders links its page (runbook_url), every page in docs/runbooks/
// belongs to an alert, each page has the sections an on-call reads, and names only endpoints, flow outcomes and
// metrics that exist.

import { COMMANDS } from '../../agent/main.js';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FLOW_OUTCOMES } from '../../agent/analysis/flow-matcher.js';
import { ROOT } from '../helpers/cli.js';
import { ChartError, defaultValues, renderChart } from '../helpers/helm.js';
import { documentedMetrics, exposedNames } from '../helpers/metrics-doc.js';

const RUNBOOKS = join(ROOT, 'docs', 'runbooks');
// The agent's HTTP endpoints (docs/operations.md, "asymroute serve"); a runbook must not send anyone elsewhere.
const ENDPOINTS = ['/', '/healthz', '/readyz', '/metrics', '/v1/findings', '/v1/vips', '/v1/routes', '/v1/flows', '/v1/bgp', '/v1/capture'];

interface Rule {
  alert: string;
  annotations: Record<string, string>;
}

const kebab = (alert: string) => alert.replace(/(?<!^)(?=[A-Z])/g, '-').toLowerCase();

function rules(values: Record<string, unknown> = {}): Rule[] {
  const r = renderChart({ prometheusRule: { enabled: true, ...values } });
  const pr = r.objects.find((o) => o.kind === 'PrometheusRule') as unknown as { spec: { groups: Array<{ rules: Rule[] }> } };
  return pr.spec.groups.flatMap((g) => g.rules);
}

const pages = () =>
  readdirSync(RUNBOOKS)
    .filter((f) => f.endsWith('.md') && f !== 'README.md')
    .sort();

describe('runbooks', () => {
  const all = rules();
  const base = (defaultValues() as { prometheusRule: { runbookBaseUrl: string } }).prometheusRule.runbookBaseUrl;

  it('every alert links the page named after it, and the page exists', () => {
    expect(all.length).toBe(17);
    for (const r of all) {
      const page = `${kebab(r.alert)}.md`;
      expect(r.annotations['runbook_url'], r.alert).toBe(`${base}/${page}`);
      expect(existsSync(join(RUNBOOKS, page)), page).toBe(true);
    }
  });

  it('every page belongs to an alert, and the index lists each page once', () => {
    expect(pages()).toEqual(all.map((r) => `${kebab(r.alert)}.md`).sort());
    const index = readFileSync(join(RUNBOOKS, 'README.md'), 'utf8');
    for (const p of pages()) expect(index.split(`](${p})`).length - 1, p).toBe(1);
  });

  it('each page is titled with its alert and has the sections Meaning, Confirm and Fix, in that order', () => {
    for (const r of all) {
      const md = readFileSync(join(RUNBOOKS, `${kebab(r.alert)}.md`), 'utf8');
      expect(md.split('\n')[0], r.alert).toBe(`# ${r.alert}`);
      const headings = [...md.matchAll(/^## (.+)$/gm)].map((m) => m[1]!);
      const at = ['Meaning', 'Confirm', 'Fix'].map((h) => headings.indexOf(h));
      expect(at.every((i) => i >= 0) && at[0]! < at[1]! && at[1]! < at[2]!, `${r.alert}: ${headings.join(', ')}`).toBe(true);
      // the Fix section says when not to apply it
      const fix = md.split(/^## Fix$/m)[1]!.split(/^## /m)[0]!;
      expect(fix, r.alert).toMatch(/When not to/);
    }
  });

  it('names only endpoints the agent serves, flow outcomes it knows, metrics it exports, and no command it lacks', () => {
    const metrics = exposedNames(documentedMetrics());
    let urls = 0;
    for (const f of ['README.md', ...pages()]) {
      const md = readFileSync(join(RUNBOOKS, f), 'utf8');
      for (const m of md.matchAll(/https?:\/\/NODE(?:_IP)?:9472(\/[^\s'"?`)]*)?(\?[^\s'"`)]*)?/g)) {
        urls++;
        expect(ENDPOINTS, `${f}: ${m[0]}`).toContain(m[1] ?? '/');
        for (const o of (m[2] ?? '').matchAll(/outcome=(\w+)/g)) expect(FLOW_OUTCOMES, `${f}: ${m[0]}`).toContain(o[1]);
      }
      // a name followed by "(" is the stem of a grep -E alternation: some metric must start with it
      for (const m of md.matchAll(/\basymroute_[a-z0-9_]+(\()?/g)) {
        const name = m[0].replace(/\($/, '');
        const known = m[1] ? [...metrics].some((x) => x.startsWith(name)) : metrics.has(name);
        expect(known, `${f}: ${m[0]}`).toBe(true);
      }
      for (const m of md.matchAll(/`(?:asymroute|kubectl asymroute) ([a-z][a-z-]*)/g))
        if (!m[0].startsWith('`kubectl')) expect(Object.keys(COMMANDS), `${f}: ${m[0]}`).toContain(m[1]);
    }
    expect(urls).toBeGreaterThan(30);
  });

  it('builds runbook_url from prometheusRule.runbookBaseUrl, and refuses a base that is no URL', () => {
    const own = rules({ runbookBaseUrl: 'https://wiki.example/ops/asymroute' });
    expect(own.map((r) => r.annotations['runbook_url'])).toEqual(all.map((r) => `https://wiki.example/ops/asymroute/${kebab(r.alert)}.md`));
    expect(() => renderChart({ prometheusRule: { enabled: true, runbookBaseUrl: 'docs/runbooks' } })).toThrow(ChartError);
    expect(() => renderChart({ prometheusRule: { enabled: true, runbookBaseUrl: 'docs/runbooks' } })).toThrow(
      /\/prometheusRule\/runbookBaseUrl: must match pattern/,
    );
  });
});
