// The cluster view: every agent's report folded into one table, VIP x node, with the nodes whose agent is missing or
// did not answer listed as such. Pure: `cluster.ts` fetches, this decides and prints.

import type { CheckReportJson } from './check-report.js';
import type { Severity } from '../findings/registry.js';
import { parseIp } from '../net/ip.js';

export const CLUSTER_SCHEMA = 'asymroute.cluster/v1';

/** What became of a node's agent. */
export type AgentState =
  /** its report is in the table */
  | 'answered'
  /** no agent pod runs on the node (a DaemonSet that does not tolerate the node's taints, or no node list) */
  | 'no-agent'
  /** the pod exists but is not running, or has no address yet */
  | 'not-running'
  /** the API server could not reach it, or it did not answer in time */
  | 'no-answer'
  /** the agent refused the token (401) or its permission (403) */
  | 'unauthorized'
  | 'forbidden'
  /** the API server refused the pod proxy, or the answer was not a report */
  | 'error';

export interface AgentPod {
  namespace: string;
  name: string;
  node: string;
}

export interface AgentOutcome {
  node: string;
  pod: AgentPod | null;
  state: AgentState;
  /** why, for every state but answered */
  detail: string | null;
  report: AgentReport | null;
}

/** The agent's JSON report (GET /?format=json): the check report and the monitors' sections. */
export type AgentReport = CheckReportJson & {
  liveFlows?: Record<string, { outcomes?: Partial<Record<string, number>> }> | null;
  capture?: unknown;
};

export type StaticVerdict = 'ok' | 'asymmetric' | 'no-route' | 'unknown';
export type LiveVerdict = 'asymmetric' | 'unanswered' | 'ok' | 'no-flows' | 'not-captured';

export interface VipCell {
  node: string;
  state: AgentState;
  /** false: the agent answered but does not watch this VIP */
  checked: boolean;
  /** how this node announces the VIP: MetalLB L2, MetalLB BGP, kube-vip; [] when known not to; null when unknown */
  announces: string[] | null;
  ingress: string | null;
  static: StaticVerdict | null;
  live: LiveVerdict | null;
  /** live flow outcomes not yet expired, by outcome */
  flows: Record<string, number> | null;
  findings: Array<{ type: string; severity: Severity }>;
}

export interface VipRow {
  ip: string;
  service: string | null;
  nodes: VipCell[];
}

export interface NodeRow {
  node: string;
  pod: string | null;
  state: AgentState;
  detail: string | null;
  summary: Record<Severity, number> | null;
  /** findings about the node rather than one VIP (capture down, a BGP session down) */
  findings: Array<{ type: string; severity: Severity }>;
}

export interface ClusterView {
  schema: typeof CLUSTER_SCHEMA;
  takenAt: string;
  selector: string;
  /** what could not be asked (a node list refused): the view may be incomplete */
  notes: string[];
  nodes: NodeRow[];
  vips: VipRow[];
  summary: { nodes: number; answered: number; noAgent: number; failed: number; critical: number; warning: number };
  /** 0: every agent answered and none has critical or warning findings; 1: otherwise (see docs/operations.md) */
  exitCode: 0 | 1;
}

const STATIC_ORDER: StaticVerdict[] = ['asymmetric', 'no-route', 'unknown', 'ok'];

const PATH_VERDICT: Record<string, StaticVerdict> = {
  symmetric: 'ok',
  'connected-elsewhere': 'ok',
  asymmetric: 'asymmetric',
  unroutable: 'no-route',
  unknown: 'unknown',
  'no-ingress': 'unknown',
};

// A VIP's static verdict on a node is its worst path's: one client network sent astray is the incident. A verdict
// this version does not know counts as unknown, never ok.
function staticOf(paths: Array<{ verdict: string }>): StaticVerdict {
  const seen = new Set(paths.map((p) => PATH_VERDICT[p.verdict] ?? 'unknown'));
  return STATIC_ORDER.find((v) => seen.has(v)) ?? 'unknown';
}

function liveOf(report: AgentReport, ip: string): { live: LiveVerdict; flows: Record<string, number> | null } {
  if (report.liveFlows === null || report.liveFlows === undefined) return { live: 'not-captured', flows: null };
  const o = report.liveFlows[ip]?.outcomes;
  if (!o) return { live: 'no-flows', flows: {} };
  const flows = Object.fromEntries(Object.entries(o).filter((e): e is [string, number] => typeof e[1] === 'number' && e[1] > 0));
  const n = (k: string) => flows[k] ?? 0;
  const live: LiveVerdict =
    n('asymmetric') > 0 ? 'asymmetric' : n('unanswered') > 0 ? 'unanswered' : n('symmetric') > 0 ? 'ok' : 'no-flows';
  return { live, flows };
}

type Vip = AgentReport['vips'][number];

// An agent older than kube-vip support sends no kubeVip field: undefined counts as unknown, like null.
function announcesOf(v: Vip): string[] | null {
  const known = [v.announcement, v.bgp, v.kubeVip].some((a) => a !== null && a !== undefined);
  if (!known) return null;
  const out: string[] = [];
  if (v.announcement?.here) out.push('MetalLB L2');
  if (v.bgp?.here) out.push('MetalLB BGP');
  if (v.kubeVip?.here) out.push('kube-vip');
  return out;
}

// IPv4 before IPv6, then by address; text that is no address (never from an agent) last, as text.
function byIp(a: string, b: string): number {
  const [x, y] = [parseIp(a), parseIp(b)];
  if (x && y) return x.family !== y.family ? x.family - y.family : x.value < y.value ? -1 : x.value > y.value ? 1 : 0;
  if (x || y) return x ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

export function clusterView(outcomes: AgentOutcome[], meta: { selector: string; takenAt: string; notes: string[] }): ClusterView {
  const sorted = [...outcomes].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  const services = new Map<string, string | null>();
  for (const o of sorted) for (const v of o.report?.vips ?? []) if (!services.get(v.ip)) services.set(v.ip, v.service);
  for (const o of sorted) for (const f of o.report?.findings ?? []) if (f.vip && !services.has(f.vip)) services.set(f.vip, null);

  const vips: VipRow[] = [...services.keys()].sort(byIp).map((ip) => ({
    ip,
    service: services.get(ip) ?? null,
    nodes: sorted.map((o): VipCell => {
      const r = o.report;
      const v = r?.vips.find((x) => x.ip === ip);
      const findings = (r?.findings ?? []).filter((f) => f.vip === ip).map((f) => ({ type: f.type, severity: f.severity }));
      if (!r || !v)
        return {
          node: o.node,
          state: o.state,
          checked: false,
          announces: null,
          ingress: null,
          static: null,
          live: null,
          flows: null,
          findings,
        };
      const { live, flows } = liveOf(r, ip);
      return {
        node: o.node,
        state: o.state,
        checked: true,
        announces: announcesOf(v),
        ingress: v.ingress,
        static: staticOf(v.paths),
        live,
        flows,
        findings,
      };
    }),
  }));

  const nodes: NodeRow[] = sorted.map((o) => ({
    node: o.node,
    pod: o.pod ? `${o.pod.namespace}/${o.pod.name}` : null,
    state: o.state,
    detail: o.detail,
    summary: o.report?.summary ?? null,
    findings: (o.report?.findings ?? []).filter((f) => !f.vip).map((f) => ({ type: f.type, severity: f.severity })),
  }));

  const count = (s: Severity) => nodes.reduce((n, x) => n + (x.summary?.[s] ?? 0), 0);
  const answered = nodes.filter((n) => n.state === 'answered').length;
  const noAgent = nodes.filter((n) => n.state === 'no-agent').length;
  const failed = nodes.length - answered - noAgent;
  const summary = { nodes: nodes.length, answered, noAgent, failed, critical: count('critical'), warning: count('warning') };
  const exitCode = failed > 0 || summary.critical > 0 || summary.warning > 0 ? 1 : 0;
  return { schema: CLUSTER_SCHEMA, takenAt: meta.takenAt, selector: meta.selector, notes: meta.notes, nodes, vips, summary, exitCode };
}

const STATE_TEXT: Record<AgentState, string> = {
  answered: 'answered',
  'no-agent': 'no agent',
  'not-running': 'agent not running',
  'no-answer': 'agent did not answer',
  unauthorized: 'agent refused the token (401)',
  forbidden: 'agent refused the permission (403)',
  error: 'error',
};

const LIVE_TEXT: Record<LiveVerdict, string> = {
  asymmetric: 'ASYMMETRIC',
  unanswered: 'UNANSWERED',
  ok: 'ok',
  'no-flows': 'no flows',
  'not-captured': 'not captured',
};

function liveText(c: VipCell): string {
  if (!c.live) return '-';
  const f = c.flows ?? {};
  const n = c.live === 'asymmetric' ? f['asymmetric'] : c.live === 'unanswered' ? f['unanswered'] : f['symmetric'];
  return n ? `${LIVE_TEXT[c.live]} (${n})` : LIVE_TEXT[c.live];
}

function cellRow(v: VipRow, c: VipCell): string[] {
  const head = [v.ip, v.service ?? '-', c.node];
  if (c.state !== 'answered') return [...head, STATE_TEXT[c.state], '', '', '', ''];
  if (!c.checked) return [...head, 'not watched by this agent', '', '', '', c.findings.map((f) => f.type).join(', ') || '-'];
  const announces = c.announces === null ? '?' : c.announces.length ? c.announces.join('+') : 'no';
  const stat = c.static === 'asymmetric' ? 'ASYMMETRIC' : c.static === 'no-route' ? 'NO ROUTE' : (c.static ?? '-');
  return [...head, announces, c.ingress ?? '?', stat, liveText(c), c.findings.map((f) => f.type).join(', ') || '-'];
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) =>
    r
      .map((x, i) => (i === r.length - 1 ? x : x.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

export function clusterText(v: ClusterView): string {
  const s = v.summary;
  const out: string[] = [
    `asymroute cluster: ${s.nodes} node${s.nodes === 1 ? '' : 's'}, ${s.answered} answered, ${s.failed} did not, ${s.noAgent} without an agent; ` +
      `${s.critical} critical, ${s.warning} warning`,
  ];
  for (const n of v.notes) out.push(`note: ${n}`);
  out.push('');
  if (v.vips.length === 0) out.push('No VIPs: no agent that answered watches one.');
  else {
    const rows = [['VIP', 'SERVICE', 'NODE', 'ANNOUNCES', 'INGRESS', 'STATIC', 'LIVE', 'FINDINGS']];
    for (const r of v.vips) for (const c of r.nodes) rows.push(cellRow(r, c));
    out.push(...table(rows));
  }
  out.push('');
  const rows = [['NODE', 'AGENT', 'STATE', 'DETAIL']];
  for (const n of v.nodes) {
    const bad = n.summary ? n.summary.critical + n.summary.warning : 0;
    const state =
      n.state !== 'answered' ? STATE_TEXT[n.state] : bad > 0 ? `${n.summary!.critical} critical, ${n.summary!.warning} warning` : 'healthy';
    const detail = n.state === 'answered' ? n.findings.map((f) => f.type).join(', ') : (n.detail ?? '');
    rows.push([n.node, n.pod ?? '-', state, detail || '-']);
  }
  out.push(...table(rows));
  return out.join('\n');
}
