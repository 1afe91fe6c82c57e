// The Grafana dashboard the chart ships (charts/asymroute/dashboards/asymroute.json), built as code: each panel is a
// title, a query or two and a unit, and the JSON around them is written here once. `npm run dashboard` rewrites the
// file; test/chart/dashboard.test.ts fails when it is stale, and has promtool evaluate every query.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

type Json = Record<string, unknown>;

export interface Target {
  refId: string;
  expr: string;
  legend: string;
  /** instant queries feed tables and stats: the current state, not a history */
  instant?: boolean;
}

export interface Panel {
  title: string;
  description: string;
  kind: 'timeseries' | 'table' | 'stat' | 'state-timeline';
  unit?: string;
  /** value mappings for state panels, e.g. 1 → ASYMMETRIC in red */
  states?: Array<{ value: number; text: string; color: string }>;
  /** thresholds from green: [value, color] above which the colour changes */
  thresholds?: Array<[number, string]>;
  targets: Target[];
  width: number;
  height: number;
}

export interface Row {
  title: string;
  panels: Panel[];
}

// Every query selects the nodes and VIPs the variables pick; `node` is the label the chart's ServiceMonitor copies
// from the pod's node name (the alerts name it too).
const N = 'node=~"$node"';
const NV = `${N},vip=~"$vip"`;

const VERDICT = [
  { value: 0, text: 'symmetric', color: 'green' },
  { value: 1, text: 'ASYMMETRIC', color: 'red' },
];
const UP = [
  { value: 0, text: 'DOWN', color: 'red' },
  { value: 1, text: 'up', color: 'green' },
];

export const ROWS: Row[] = [
  {
    title: 'Verdicts',
    panels: [
      {
        title: 'Reply-path verdict per VIP and node',
        description:
          'The static check: 1 (ASYMMETRIC) when the kernel routes replies for the VIP out of another interface than its requests arrive on (asymroute_reply_path_asymmetric). Alert: AsymrouteReplyPathAsymmetric.',
        kind: 'table',
        states: VERDICT,
        targets: [
          {
            refId: 'A',
            expr: `max by (vip, node, ingress, egress) (asymroute_reply_path_asymmetric{${NV}})`,
            legend: '{{vip}} {{node}}',
            instant: true,
          },
        ],
        width: 12,
        height: 8,
      },
      {
        title: 'Findings per VIP and node',
        description:
          'Findings that concern a VIP, by type and severity (asymroute_vip_findings): asymmetric-reply-path, reply-path-unknown, rp-filter-drop, syn-unanswered, vip-arp-unanswered, … See docs/findings.md.',
        kind: 'table',
        targets: [
          {
            refId: 'A',
            expr: `sum by (vip, node, type, severity) (asymroute_vip_findings{${NV}}) > 0`,
            legend: '{{vip}} {{node}} {{type}}',
            instant: true,
          },
        ],
        width: 12,
        height: 8,
      },
    ],
  },
  {
    title: 'Live flows',
    panels: [
      {
        title: 'Asymmetric flows',
        description:
          'Open flows whose replies left on another interface than their requests arrived on, by path (asymroute_asymmetric_flows). The incident as it happens. Alert: AsymrouteAsymmetricFlowsObserved.',
        kind: 'timeseries',
        targets: [
          {
            refId: 'A',
            expr: `sum by (vip, node, ingress, egress) (asymroute_asymmetric_flows{${NV}})`,
            legend: '{{vip}} {{node}} {{ingress}}→{{egress}}',
          },
        ],
        width: 12,
        height: 8,
      },
      {
        title: 'Unanswered SYNs',
        description:
          'Open flows to each VIP that got no SYN-ACK on any interface (asymroute_flows{outcome="unanswered"}). Alert: AsymrouteSynUnanswered.',
        kind: 'timeseries',
        targets: [
          {
            refId: 'A',
            expr: `sum by (vip, node) (asymroute_flows{${NV},outcome="unanswered"})`,
            legend: '{{vip}} {{node}}',
          },
        ],
        width: 12,
        height: 8,
      },
      {
        title: 'Flows by outcome',
        description: 'Flows to the selected VIPs currently tracked, by outcome (symmetric, asymmetric, unanswered, reset, pending).',
        kind: 'timeseries',
        targets: [{ refId: 'A', expr: `sum by (outcome) (asymroute_flows{${NV}})`, legend: '{{outcome}}' }],
        width: 24,
        height: 7,
      },
    ],
  },
  {
    title: 'L2: ARP owners and conflicts',
    panels: [
      {
        title: 'ARP owners per VIP',
        description:
          'Distinct MACs that claimed each VIP in the last minute (asymroute_vip_arp_owners): 1 is healthy, more than 1 is a conflict (AsymrouteVipArpConflict), 0 with requests is a dead speaker.',
        kind: 'timeseries',
        thresholds: [[2, 'red']],
        targets: [{ refId: 'A', expr: `max by (vip, node) (asymroute_vip_arp_owners{${NV}})`, legend: '{{vip}} seen from {{node}}' }],
        width: 12,
        height: 8,
      },
      {
        title: 'ARP requests and replies',
        description:
          'Who-has requests for each VIP received, and the replies this node sent, per second: requests without replies anywhere is AsymrouteVipArpUnanswered.',
        kind: 'timeseries',
        unit: 'pps',
        targets: [
          {
            refId: 'A',
            expr: `sum by (vip, node) (rate(asymroute_vip_arp_requests_total{${NV}}[$__rate_interval]))`,
            legend: 'requests {{vip}} {{node}}',
          },
          {
            refId: 'B',
            expr: `sum by (vip, node) (rate(asymroute_vip_arp_replies_total{${NV}}[$__rate_interval]))`,
            legend: 'replies {{vip}} {{node}}',
          },
        ],
        width: 12,
        height: 8,
      },
    ],
  },
  {
    title: 'BGP',
    panels: [
      {
        title: 'BGP sessions',
        description:
          'BGP sessions on port 179 by node and peer (asymroute_bgp_session_up); expected="true" for configured peers. Alert: AsymrouteBgpSessionDown.',
        kind: 'state-timeline',
        states: UP,
        targets: [
          {
            refId: 'A',
            expr: `max by (node, peer, expected) (asymroute_bgp_session_up{${N}})`,
            legend: '{{node}} → {{peer}} (expected {{expected}})',
          },
        ],
        width: 12,
        height: 8,
      },
      {
        title: 'BGP resets from peers',
        description:
          'TCP resets received from each peer, per second (asymroute_bgp_peer_resets_total): a router that does not list the node resets right after the handshake.',
        kind: 'timeseries',
        unit: 'reqps',
        targets: [
          {
            refId: 'A',
            expr: `sum by (node, peer) (rate(asymroute_bgp_peer_resets_total{${N}}[$__rate_interval]))`,
            legend: '{{node}} ← {{peer}}',
          },
        ],
        width: 12,
        height: 8,
      },
    ],
  },
  {
    title: 'Starvation',
    panels: [
      {
        title: 'VIP request packets per node',
        description:
          'Request packets to each VIP captured per second, by node (asymroute_vip_ingress_packets_total; SYN, FIN and RST of every flow, data of sampled flows). A node flat at zero while others carry traffic is starved: AsymrouteVipTrafficStarvation.',
        kind: 'timeseries',
        unit: 'pps',
        targets: [
          {
            refId: 'A',
            expr: `sum by (vip, node) (rate(asymroute_vip_ingress_packets_total{${NV}}[$__rate_interval]))`,
            legend: '{{vip}} {{node}}',
          },
        ],
        width: 24,
        height: 8,
      },
    ],
  },
  {
    title: 'Capture health',
    panels: [
      {
        title: 'Capture up',
        description: '1 while the tcpdump child runs and delivers LINUX_SLL2 (asymroute_capture_up). Alert: AsymrouteCaptureDown.',
        kind: 'state-timeline',
        states: UP,
        targets: [{ refId: 'A', expr: `max by (node) (asymroute_capture_up{${N}})`, legend: '{{node}}' }],
        width: 12,
        height: 8,
      },
      {
        title: 'Kernel drops of captured packets',
        description:
          'Packets the kernel dropped before tcpdump read them, per second (asymroute_capture_kernel_drops_total), against packets read. Alert: AsymrouteCaptureDroppingPackets.',
        kind: 'timeseries',
        unit: 'pps',
        targets: [
          {
            refId: 'A',
            expr: `sum by (node) (rate(asymroute_capture_kernel_drops_total{${N}}[$__rate_interval]))`,
            legend: 'dropped {{node}}',
          },
          {
            refId: 'B',
            expr: `sum by (node) (rate(asymroute_capture_packets_total{${N}}[$__rate_interval]))`,
            legend: 'read {{node}}',
          },
        ],
        width: 12,
        height: 8,
      },
    ],
  },
  {
    title: 'Checks',
    panels: [
      {
        title: 'Check errors',
        description:
          'Static reply-path checks that failed, per interval (asymroute_checks_total{result="error"}). Failing for 15 minutes with no success: AsymrouteCheckFailing.',
        kind: 'timeseries',
        targets: [
          {
            refId: 'A',
            expr: `sum by (node) (increase(asymroute_checks_total{${N},result="error"}[$__rate_interval]))`,
            legend: '{{node}}',
          },
        ],
        width: 8,
        height: 8,
      },
      {
        title: 'Age of the last successful check',
        description:
          'Seconds since the last static check that succeeded (asymroute_check_last_success_timestamp_seconds); nodes that never had one are left out. It should stay below the check interval (30 s).',
        kind: 'timeseries',
        unit: 's',
        thresholds: [[300, 'red']],
        targets: [
          {
            refId: 'A',
            expr: `time() - max by (node) (asymroute_check_last_success_timestamp_seconds{${N}} > 0)`,
            legend: '{{node}}',
          },
        ],
        width: 8,
        height: 8,
      },
      {
        title: 'Kubernetes API',
        description: '1 while the Service watch is connected (asymroute_kubernetes_up). Alert: AsymrouteKubernetesUnreachable.',
        kind: 'state-timeline',
        states: UP,
        targets: [{ refId: 'A', expr: `max by (node) (asymroute_kubernetes_up{${N}})`, legend: '{{node}}' }],
        width: 8,
        height: 8,
      },
    ],
  },
];

const DS = { type: 'prometheus', uid: '${datasource}' };

function fieldConfig(p: Panel): Json {
  const steps: Json[] = [{ color: 'green', value: null }, ...(p.thresholds ?? []).map(([value, color]) => ({ color, value }))];
  return {
    defaults: {
      ...(p.unit ? { unit: p.unit } : {}),
      ...(p.states
        ? {
            mappings: [
              {
                type: 'value',
                options: Object.fromEntries(p.states.map((s, i) => [String(s.value), { text: s.text, color: s.color, index: i }])),
              },
            ],
            color: { mode: 'thresholds' },
            thresholds: {
              mode: 'absolute',
              steps: [{ color: p.states[0]!.color, value: null }, ...p.states.slice(1).map((s) => ({ color: s.color, value: s.value }))],
            },
          }
        : { thresholds: { mode: 'absolute', steps } }),
    },
    overrides: [],
  };
}

function panelJson(p: Panel, id: number, x: number, y: number): Json {
  return {
    id,
    type: p.kind,
    title: p.title,
    description: p.description,
    datasource: DS,
    gridPos: { h: p.height, w: p.width, x, y },
    fieldConfig: fieldConfig(p),
    options:
      p.kind === 'table'
        ? { showHeader: true, cellHeight: 'sm' }
        : p.kind === 'timeseries'
          ? {
              legend: { displayMode: 'table', placement: 'right', showLegend: true, calcs: ['lastNotNull', 'max'] },
              tooltip: { mode: 'multi' },
            }
          : { showValue: 'auto', legend: { showLegend: false } },
    ...(p.kind === 'table'
      ? {
          // instant queries in table format arrive with one column per label; drop the evaluation time
          transformations: [
            { id: 'merge', options: {} },
            { id: 'organize', options: { excludeByName: { Time: true } } },
          ],
        }
      : {}),
    targets: p.targets.map((t) => ({
      refId: t.refId,
      datasource: DS,
      expr: t.expr,
      legendFormat: t.legend,
      range: !t.instant,
      instant: t.instant === true,
      ...(t.instant ? { format: 'table' } : {}),
    })),
  };
}

function variable(name: string, label: string, query: string): Json {
  return {
    name,
    label,
    type: 'query',
    datasource: DS,
    query: { query, refId: `${name}-values` },
    definition: query,
    refresh: 2,
    multi: true,
    includeAll: true,
    allValue: '.*',
    current: { text: 'All', value: '$__all' },
    sort: 1,
  };
}

/** The dashboard, as Grafana's JSON model (schemaVersion 39, Grafana 10.x and 11.x). */
export function dashboard(): Json {
  const panels: Json[] = [];
  let id = 1;
  let y = 0;
  for (const row of ROWS) {
    panels.push({ id: id++, type: 'row', title: row.title, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y }, panels: [] });
    y += 1;
    let x = 0;
    let rowHeight = 0;
    for (const p of row.panels) {
      if (x + p.width > 24) {
        x = 0;
        y += rowHeight;
        rowHeight = 0;
      }
      panels.push(panelJson(p, id++, x, y));
      x += p.width;
      rowHeight = Math.max(rowHeight, p.height);
    }
    y += rowHeight;
  }
  return {
    uid: 'asymroute',
    title: 'asymroute: VIP reply paths',
    description:
      'Per-node verdicts, live flows, L2 and BGP health, starvation and the agent’s own health (docs/operations.md, "Grafana dashboard").',
    tags: ['asymroute', 'networking', 'metallb'],
    timezone: 'browser',
    editable: true,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    refresh: '30s',
    time: { from: 'now-6h', to: 'now' },
    annotations: { list: [] },
    links: [],
    templating: {
      list: [
        { name: 'datasource', label: 'Data source', type: 'datasource', query: 'prometheus', current: {}, hide: 0, refresh: 1 },
        variable('node', 'Node', 'label_values(asymroute_build_info, node)'),
        variable('vip', 'VIP', 'label_values(asymroute_vip_info{node=~"$node"}, vip)'),
      ],
    },
    panels,
  };
}

// Run from scripts/ (vitest) or dist/scripts/ (npm run dashboard): the repository is where package.json is.
function repoRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(d, 'package.json')) && dirname(d) !== d) d = dirname(d);
  return d;
}

export const DASHBOARD_FILE = join(repoRoot(), 'charts', 'asymroute', 'dashboards', 'asymroute.json');

export const renderDashboard = (): string => JSON.stringify(dashboard(), null, 2) + '\n';

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const before = existsSync(DASHBOARD_FILE) ? readFileSync(DASHBOARD_FILE, 'utf8') : '';
  const after = renderDashboard();
  if (after !== before) writeFileSync(DASHBOARD_FILE, after);
  console.log(`${after === before ? 'unchanged' : 'wrote'} ${DASHBOARD_FILE}`);
}
