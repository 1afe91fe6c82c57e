// The check report: a compact text for a terminal during an incident, and a stable JSON document.

import type { CheckResult } from '../reply-path/check.js';
import { kernelText, modelText } from '../reply-path/findings.js';
import type { PathReport, VipReport } from '../reply-path/verdicts.js';
import type { Finding, Severity } from '../findings/registry.js';

export const CHECK_SCHEMA = 'asymroute.check/v1';

export interface CheckReportMeta {
  node: string;
  takenAt: string;
  source: 'live' | 'snapshot';
  vipSource: string;
}

export interface CheckReportJson {
  schema: typeof CHECK_SCHEMA;
  node: string;
  takenAt: string;
  source: 'live' | 'snapshot';
  vipSource: string;
  vips: VipReport[];
  findings: Finding[];
  summary: Record<Severity, number>;
  exitCode: 0 | 1;
}

export function exitCodeFor(findings: Finding[]): 0 | 1 {
  return findings.some((f) => f.severity === 'critical' || f.severity === 'warning') ? 1 : 0;
}

export function severityCounts(findings: Finding[]): Record<Severity, number> {
  const summary: Record<Severity, number> = { critical: 0, warning: 0, info: 0 };
  for (const f of findings) summary[f.severity]++;
  return summary;
}

export function checkReportJson(meta: CheckReportMeta, r: CheckResult): CheckReportJson {
  return {
    schema: CHECK_SCHEMA,
    ...meta,
    vips: r.vips,
    findings: r.findings,
    summary: severityCounts(r.findings),
    exitCode: exitCodeFor(r.findings),
  };
}

const VERDICT_TEXT: Record<PathReport['verdict'], string> = {
  symmetric: 'ok',
  asymmetric: 'ASYMMETRIC',
  unroutable: 'NO ROUTE',
  unknown: 'unknown',
  'connected-elsewhere': 'ok (client on another connected subnet)',
  'no-ingress': 'ingress unknown',
};

function sourceLine(p: PathReport): string {
  const mark = p.mark ? ` with mark 0x${p.mark.toString(16)}` : '';
  switch (p.kind) {
    case 'local':
      return `replies sent by local sockets from ${p.question.src}${mark}:`;
    case 'host-backend':
      return `replies sent locally by backend ${p.backend}${mark}:`;
    case 'forwarded':
      return `replies forwarded from backend ${p.backend}, received on ${p.question.iif}${mark}:`;
    case 'destination-only':
      return 'no backend known: replies routed by destination alone:';
  }
}

function pathLine(v: VipReport, p: PathReport): string {
  const who =
    p.clientKind === 'client-cidr'
      ? `${p.cidr}`
      : p.clientKind === 'default-destination'
        ? `${p.client} (default route)`
        : `${p.client} (${p.clientKind})`;
  const where = p.kernel ? kernelText(p.kernel) : `model: ${modelText(p.model)}`;
  const verdict = p.verdict === 'asymmetric' ? `ASYMMETRIC (in ${v.ingress}, out ${p.egress.join('|')})` : VERDICT_TEXT[p.verdict];
  return `      to ${who.padEnd(34)} -> ${where.padEnd(34)} ${verdict}`;
}

export function checkReportText(meta: CheckReportMeta, r: CheckResult): string {
  const j = checkReportJson(meta, r);
  const out: string[] = [];
  out.push(`asymroute check: node ${meta.node}, ${meta.takenAt}${meta.source === 'snapshot' ? ' (saved snapshot: route model only)' : ''}`);
  out.push(`VIPs (${meta.vipSource}): ${r.vips.map((v) => v.ip).join(', ') || 'none'}`);
  for (const v of r.vips) {
    out.push('');
    const held = v.holder ? `held by ${v.holder}` : 'not a local address';
    out.push(
      `  ${v.ip}${v.service ? ` [${v.service}]` : ''}: requests arrive on ${v.ingress ?? '?'} (${v.ingressReason}), ${held}${v.rpFilter ? `, rp_filter=${v.rpFilter}` : ''}`,
    );
    const a = v.announcement;
    if (a)
      out.push(
        a.here
          ? `    MetalLB L2: announced by this node${a.interfaces.length ? ` on ${a.interfaces.join(', ')}` : ''}`
          : `    MetalLB L2: announced by ${a.nodes.join(', ')}, not this node (it receives the VIP's traffic only after a failover)`,
      );
    const g = v.bgp;
    if (g)
      out.push(
        g.here
          ? `    MetalLB BGP: advertised by this node to ${g.peers.length ? `BGPPeer ${g.peers.join(', ')}` : 'no BGPPeer'} (advertising nodes: ${g.nodes.join(', ')})`
          : `    MetalLB BGP: advertised by ${g.nodes.join(', ')}, not this node (routers send it none of the VIP's traffic)`,
      );
    const k = v.kubeVip;
    if (k) {
      const lease = k.lease?.startsWith(`${v.service?.split('/')[0]}/`) ? k.lease.slice(k.lease.indexOf('/') + 1) : k.lease;
      const by = k.via === 'lease' ? `lease ${lease}` : 'annotation kube-vip.io/vipHost';
      out.push(
        k.here
          ? `    kube-vip: held by this node (${by})`
          : `    kube-vip: held by ${k.nodes.join(', ')}, not this node (${by}; it receives the VIP's traffic only after a failover)`,
      );
    }
    for (const b of v.backends) {
      const port = b.port !== null ? `:${b.port}` : '';
      const where = b.local ? 'an address of this host (replies sent locally)' : b.iif ? `replies arrive on ${b.iif}` : b.iifReason;
      out.push(
        `    backend ${b.ip}${port} (${b.sources.join(', ')}${b.node ? `, node ${b.node}` : ''}): ${where}${b.snat ? ", SNAT'd to this node" : ''}`,
      );
    }
    for (const b of v.blind) out.push(`    cannot see: ${b}`);
    let source = '';
    for (const p of v.paths) {
      const s = sourceLine(p);
      if (s !== source) out.push(`    ${s}`);
      source = s;
      out.push(pathLine(v, p));
      if (p.verdict === 'asymmetric' && p.rule) out.push(`        decided by rule "${p.rule}"${p.route ? `, route "${p.route}"` : ''}`);
      if (p.verdict === 'unknown' && p.reason) out.push(`        unknown: ${p.reason}`);
    }
  }
  out.push('');
  if (r.vips.length === 0) {
    out.push('No VIPs to check: nothing was given with --vip and no VIP-like address was found (see the VIPs line above).');
  } else if (r.findings.length === 0) {
    out.push('No findings: replies leave on the interfaces the requests arrive on.');
  } else {
    out.push(`Findings (${r.findings.length}):`);
    for (const f of r.findings) {
      out.push('');
      out.push(`  ${f.severity.toUpperCase()} ${f.type}: ${f.summary}`);
      for (const e of f.evidence) out.push(`      evidence: ${e}`);
      for (const rem of f.remediation) {
        out.push(`      fix: ${rem.title}`);
        for (const c of rem.commands) out.push(`          ${c}`);
        if (rem.note) out.push(`          (${rem.note})`);
      }
    }
  }
  out.push('');
  out.push(`Result: ${j.summary.critical} critical, ${j.summary.warning} warning, ${j.summary.info} info; exit ${j.exitCode}`);
  return out.join('\n');
}
