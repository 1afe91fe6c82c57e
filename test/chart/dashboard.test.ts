// The Grafana dashboard the chart ships: the JSON in the chart is what scripts/grafana-dashboard.ts builds, every
// metric and label its queries name is one docs/metrics.md lists, and promtool evaluates every panel query (Grafana's
// variables replaced by concrete values) on synthetic series labelled as the chart's ServiceMonitor labels them,
// against the samples written here: renaming a metric or a label, or changing an aggregation, fails.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigMap } from 'kubernetes-models/v1';
import { stringify } from 'yaml';
import { describe, expect, it, onTestFinished } from 'vitest';
import { DASHBOARD_FILE, dashboard, renderDashboard, ROWS } from '../../scripts/grafana-dashboard.js';
import { renderChart } from '../helpers/helm.js';
import { documentedMetrics, exposedNames } from '../helpers/metrics-doc.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = Record<string, any>;

const A = 'job="asymroute",instance="10.0.0.1:9472",node="node-a"';
const B = 'job="asymroute",instance="10.0.0.2:9472",node="node-b"';
const V = 'vip="192.168.1.240"';
const V2 = 'vip="192.168.1.241"';

// One minute apart, 16 samples: the queries are evaluated at 10m. Node B and VIP .241 are there to be filtered out by
// the variables ($node = node-a, $vip = 192.168.1.240).
const SERIES: Array<[string, string]> = [
  [`asymroute_reply_path_asymmetric{${A},${V},ingress="eth1",egress="eth0"}`, '1x15'],
  [`asymroute_reply_path_asymmetric{${A},${V2},ingress="eth1",egress="eth1"}`, '0x15'],
  [`asymroute_reply_path_asymmetric{${B},${V},ingress="eth1",egress="eth1"}`, '0x15'],
  [`asymroute_vip_findings{${A},${V},type="asymmetric-reply-path",severity="critical"}`, '1x15'],
  [`asymroute_vip_findings{${A},${V},type="syn-unanswered",severity="critical"}`, '0x15'],
  [`asymroute_vip_findings{${B},${V},type="reply-path-unknown",severity="warning"}`, '1x15'],
  [`asymroute_asymmetric_flows{${A},${V},ingress="eth1",egress="eth0"}`, '3x15'],
  [`asymroute_asymmetric_flows{${B},${V},ingress="eth1",egress="eth0"}`, '5x15'],
  [`asymroute_flows{${A},${V},outcome="unanswered"}`, '2x15'],
  [`asymroute_flows{${A},${V},outcome="symmetric"}`, '7x15'],
  [`asymroute_flows{${A},${V2},outcome="symmetric"}`, '4x15'],
  [`asymroute_flows{${B},${V},outcome="unanswered"}`, '9x15'],
  [`asymroute_vip_arp_owners{${A},${V}}`, '2x15'],
  [`asymroute_vip_arp_owners{${A},${V2}}`, '1x15'],
  [`asymroute_vip_arp_requests_total{${A},${V},interface="eth1"}`, '0+60x15'],
  [`asymroute_vip_arp_replies_total{${A},${V},interface="eth1"}`, '0+30x15'],
  [`asymroute_bgp_session_up{${A},peer="192.168.1.1",expected="true"}`, '0x15'],
  [`asymroute_bgp_session_up{${B},peer="192.168.1.1",expected="true"}`, '1x15'],
  [`asymroute_bgp_peer_resets_total{${A},peer="192.168.1.1"}`, '0+120x15'],
  [`asymroute_vip_ingress_packets_total{${A},${V},interface="eth1"}`, '0+600x15'],
  [`asymroute_vip_ingress_packets_total{${B},${V},interface="eth1"}`, '0x15'],
  [`asymroute_capture_up{${A}}`, '1x15'],
  [`asymroute_capture_up{${B}}`, '0x15'],
  [`asymroute_capture_kernel_drops_total{${A}}`, '0+6x15'],
  [`asymroute_capture_packets_total{${A}}`, '0+6000x15'],
  [`asymroute_checks_total{${A},result="error"}`, '0+1x15'],
  [`asymroute_checks_total{${A},result="ok"}`, '0+2x15'],
  [`asymroute_check_last_success_timestamp_seconds{${A}}`, '540x15'],
  [`asymroute_check_last_success_timestamp_seconds{${B}}`, '0x15'],
  [`asymroute_kubernetes_up{${A}}`, '1x15'],
];

const a = { node: 'node-a' };
const b = { node: 'node-b' };
const av = { vip: '192.168.1.240', node: 'node-a' };
const bv = { vip: '192.168.1.240', node: 'node-b' };
const av2 = { vip: '192.168.1.241', node: 'node-a' };
type Samples = Record<string, Array<[Record<string, string>, number]>>;

// What each target must return at 10m with node-a and VIP .240 selected: its labels and value, keyed by panel title
// and refId.
const EXPECTED: Samples = {
  'Reply-path verdict per VIP and node/A': [[{ ...av, ingress: 'eth1', egress: 'eth0' }, 1]],
  'Findings per VIP and node/A': [[{ ...av, type: 'asymmetric-reply-path', severity: 'critical' }, 1]],
  'Asymmetric flows/A': [[{ ...av, ingress: 'eth1', egress: 'eth0' }, 3]],
  'Unanswered SYNs/A': [[av, 2]],
  'Flows by outcome/A': [
    [{ outcome: 'unanswered' }, 2],
    [{ outcome: 'symmetric' }, 7],
  ],
  'ARP owners per VIP/A': [[av, 2]],
  'ARP requests and replies/A': [[av, 1]],
  'ARP requests and replies/B': [[av, 0.5]],
  'BGP sessions/A': [[{ ...a, peer: '192.168.1.1', expected: 'true' }, 0]],
  'BGP resets from peers/A': [[{ ...a, peer: '192.168.1.1' }, 2]],
  'VIP request packets per node/A': [[av, 10]],
  'Capture up/A': [[a, 1]],
  'Kernel drops of captured packets/A': [[a, 0.1]],
  'Kernel drops of captured packets/B': [[a, 100]],
  'Check errors/A': [[a, 2]],
  'Age of the last successful check/A': [[a, 60]],
  'Kubernetes API/A': [[a, 1]],
};

// The same with both variables on All (the dashboard's default: allValue .*), where node-b and VIP .241 count too.
const EXPECTED_ALL: Samples = {
  ...EXPECTED,
  'Reply-path verdict per VIP and node/A': [
    [{ ...av, ingress: 'eth1', egress: 'eth0' }, 1],
    [{ ...av2, ingress: 'eth1', egress: 'eth1' }, 0],
    [{ ...bv, ingress: 'eth1', egress: 'eth1' }, 0],
  ],
  'Findings per VIP and node/A': [
    [{ ...av, type: 'asymmetric-reply-path', severity: 'critical' }, 1],
    [{ ...bv, type: 'reply-path-unknown', severity: 'warning' }, 1],
  ],
  'Asymmetric flows/A': [
    [{ ...av, ingress: 'eth1', egress: 'eth0' }, 3],
    [{ ...bv, ingress: 'eth1', egress: 'eth0' }, 5],
  ],
  'Unanswered SYNs/A': [
    [av, 2],
    [bv, 9],
  ],
  'Flows by outcome/A': [
    [{ outcome: 'unanswered' }, 11],
    [{ outcome: 'symmetric' }, 11],
  ],
  'ARP owners per VIP/A': [
    [av, 2],
    [av2, 1],
  ],
  'BGP sessions/A': [
    [{ ...a, peer: '192.168.1.1', expected: 'true' }, 0],
    [{ ...b, peer: '192.168.1.1', expected: 'true' }, 1],
  ],
  'VIP request packets per node/A': [
    [av, 10],
    [bv, 0],
  ],
  'Capture up/A': [
    [a, 1],
    [b, 0],
  ],
};

/** Grafana's substitutions: a selected value is regex-escaped for Prometheus, as Grafana does; All is the allValue. */
const ONE: Record<string, string> = {
  $node: 'node-a',
  $vip: '192\\\\.168\\\\.1\\\\.240',
  $__rate_interval: '2m',
  $__interval: '1m',
  $datasource: 'prometheus',
};
const ALL: Record<string, string> = { ...ONE, $node: '.*', $vip: '.*' };
const substitute = (expr: string, vars = ONE) => expr.replace(/\$(__)?[a-z_]+/g, (v) => vars[v] ?? v);

const targets = () =>
  (dashboard()['panels'] as Any[])
    .filter((p) => p.type !== 'row')
    .flatMap((p) => (p.targets as Any[]).map((t) => ({ key: `${p.title}/${t.refId}`, expr: t.expr as string, panel: p })));

const labelsText = (l: Record<string, string>) =>
  `{${Object.entries(l)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',')}}`;

describe('Grafana dashboard', () => {
  it('is what scripts/grafana-dashboard.ts builds (npm run dashboard rewrites it)', () => {
    expect(readFileSync(DASHBOARD_FILE, 'utf8')).toBe(renderDashboard());
  });

  it('has the datasource, node and vip variables, and every query goes through the datasource variable', () => {
    const d = dashboard() as Any;
    const vars = d.templating.list as Any[];
    expect(vars.map((v) => [v.name, v.type])).toEqual([
      ['datasource', 'datasource'],
      ['node', 'query'],
      ['vip', 'query'],
    ]);
    expect(vars[0]!.query).toBe('prometheus');
    for (const v of vars.slice(1)) expect(v).toMatchObject({ multi: true, includeAll: true, datasource: { uid: '${datasource}' } });
    const panels = (d.panels as Any[]).filter((p) => p.type !== 'row');
    for (const p of panels) {
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      for (const t of p.targets) expect(t.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
    }
    // the topics issue 14 asks for, one row each
    expect(ROWS.map((r) => r.title)).toEqual([
      'Verdicts',
      'Live flows',
      'L2: ARP owners and conflicts',
      'BGP',
      'Starvation',
      'Capture health',
      'Checks',
    ]);
    // panels never overlap on Grafana's 24-column grid
    const cells = new Set<string>();
    for (const p of d.panels as Any[])
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++)
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          expect(x, p.title).toBeLessThan(24);
          expect(cells.has(`${x},${y}`), `${p.title} overlaps at ${x},${y}`).toBe(false);
          cells.add(`${x},${y}`);
        }
    expect(new Set((d.panels as Any[]).map((p) => p.id)).size).toBe((d.panels as Any[]).length);
  });

  it('names only metrics docs/metrics.md lists, and only their labels (plus the scrape labels node, job, instance)', () => {
    const docs = documentedMetrics();
    const names = exposedNames(docs);
    const d = dashboard() as Any;
    const exprs = [
      ...targets().map((t) => t.expr),
      ...(d.templating.list as Any[]).filter((v) => v.type === 'query').map((v) => v.definition),
    ];
    let selectors = 0;
    for (const e of exprs) {
      const used = [...e.matchAll(/\b([a-z_:][a-z0-9_:]*)\s*\{([^}]*)\}/g)];
      const inQuery = new Set<string>(['node', 'job', 'instance']);
      for (const [, metric, matchers] of used) {
        selectors++;
        expect(names.has(metric!), `${metric} in ${e}`).toBe(true);
        for (const l of docs.get(metric!)?.labels ?? []) inQuery.add(l);
        for (const m of matchers!.matchAll(/([a-zA-Z_]\w*)\s*(=~|!~|!=|=)/g)) expect(inQuery, `${m[1]} in ${e}`).toContain(m[1]);
      }
      for (const m of e.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g))
        for (const l of m[1]!.split(',').map((s: string) => s.trim())) expect(inQuery, `${l} in ${e}`).toContain(l);
      // and no bare metric without a selector slips past the check
      for (const m of e.matchAll(/\basymroute_\w+/g)) expect(names.has(m[0]), `${m[0]} in ${e}`).toBe(true);
      for (const m of e.matchAll(/label_values\((\w+)/g)) expect(names.has(m[1]!), e).toBe(true);
    }
    expect(selectors).toBe(targets().length + 1);
  });

  /** promtool test rules with one promql_expr_test per query; returns its exit status and output. */
  function evaluate(queries: Array<{ expr: string; samples: Samples[string] }>) {
    const dir = mkdtempSync(join(tmpdir(), 'asymroute-dashboard-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'rules.yaml'), stringify({ groups: [] }));
    const promql_expr_test = queries.map((q) => ({
      expr: q.expr,
      eval_time: '10m',
      exp_samples: q.samples.map(([labels, value]) => ({ labels: labelsText(labels), value })),
    }));
    const input_series = SERIES.map(([series, values]) => ({ series, values }));
    writeFileSync(
      join(dir, 'test.yaml'),
      stringify({ rule_files: ['rules.yaml'], tests: [{ interval: '1m', input_series, promql_expr_test }] }),
    );
    const r = spawnSync('promtool', ['test', 'rules', join(dir, 'test.yaml')], { encoding: 'utf8' });
    expect(r.error, 'promtool is installed by scripts/install-deps.sh').toBeUndefined();
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
  }

  it.each([
    ['node-a and VIP .240 selected', ONE, EXPECTED],
    ['All nodes and VIPs (the default)', ALL, EXPECTED_ALL],
  ])('every query, as promtool evaluates it on synthetic series with %s, returns the samples written here', (_n, vars, expected) => {
    const all = targets();
    expect(all.map((t) => t.key).sort()).toEqual(Object.keys(expected).sort());
    const queries = all.map((t) => {
      const expr = substitute(t.expr, vars);
      expect(expr, t.key).not.toMatch(/\$/);
      return { expr, samples: expected[t.key]! };
    });
    const r = evaluate(queries);
    expect(r.output, 'promtool test rules').toMatch(/SUCCESS/);
    expect(r.status).toBe(0);
    expect(queries.length).toBeGreaterThanOrEqual(17);
    // What promtool confirmed, panel by panel, for the record (the session notes quote it).
    if (vars === ONE)
      console.log(
        all
          .map(
            (t, i) =>
              `[dashboard] ${t.key}: ${queries[i]!.expr} => ${queries[i]!.samples.map(([l, v]) => `${labelsText(l)} ${v}`).join('; ')}`,
          )
          .join('\n'),
      );
  });

  it('promtool catches a renamed label or metric in a query', () => {
    const t = targets().find((x) => x.key === 'Asymmetric flows/A')!;
    const run = (expr: string) => evaluate([{ expr, samples: EXPECTED[t.key]! }]).status;
    expect(run(substitute(t.expr))).toBe(0);
    expect(run(substitute(t.expr).replace('egress', 'egres'))).not.toBe(0);
    expect(run(substitute(t.expr).replace('asymroute_asymmetric_flows', 'asymroute_asymmetric_flow'))).not.toBe(0);
  });

  it('is rendered as a ConfigMap for the Grafana sidecar only with dashboards.enabled', () => {
    const cms = (v: Record<string, unknown>) =>
      renderChart(v, { namespace: 'netcheck' }).objects.filter((o) => o.metadata.labels?.['grafana_dashboard']);
    expect(cms({})).toEqual([]);
    const [first, ...more] = cms({
      dashboards: { enabled: true, namespace: 'monitoring', labels: { team: 'net' }, annotations: { grafana_folder: 'Networking' } },
    }) as unknown as Any[];
    expect(more).toEqual([]);
    const cm = first!;
    expect(() => new ConfigMap(cm as never).validate()).not.toThrow();
    expect(cm.kind).toBe('ConfigMap');
    expect(cm.metadata).toMatchObject({
      name: 'asymroute-dashboard',
      namespace: 'monitoring',
      labels: { grafana_dashboard: '1', team: 'net', 'app.kubernetes.io/name': 'asymroute' },
      annotations: { grafana_folder: 'Networking' },
    });
    expect(Object.keys(cm.data)).toEqual(['asymroute.json']);
    expect(JSON.parse(cm.data['asymroute.json'])).toEqual(dashboard());
    const plain = (cms({ dashboards: { enabled: true } }) as unknown as Any[])[0]!;
    expect(plain.metadata.namespace).toBe('netcheck');
    expect(plain.metadata.annotations).toBeUndefined();
    expect(() => renderChart({ dashboards: { enabled: true, folder: 'x' } })).toThrow(
      /\/dashboards: must NOT have additional properties \(folder\)/,
    );
  });
});
