// The analyze report: what the packets say, per VIP, in text and in stable JSON.

import type { CaptureAnalysis } from '../analysis/capture-analysis.js';
import { FLOW_OUTCOMES } from '../analysis/flow-matcher.js';
import { pathsText } from '../analysis/live-evidence.js';
import { sortFindings } from '../findings/registry.js';
import { exitCodeFor, severityCounts, type CheckReportJson } from './check-report.js';

export const ANALYZE_SCHEMA = 'asymroute.analyze/v1';

export interface AnalyzeMeta {
  file: string;
  linksSource: string | null;
}

export function analyzeReportJson(meta: AnalyzeMeta, a: CaptureAnalysis, check: CheckReportJson | null) {
  const findings = sortFindings([...a.findings, ...(check?.findings ?? [])]);
  return {
    schema: ANALYZE_SCHEMA,
    file: meta.file,
    format: a.format,
    linktypes: a.linktypes,
    records: a.records,
    formatError: a.formatError,
    interfaceNames: meta.linksSource,
    interfacesKnown: a.interfacesKnown,
    vipSource: a.vipsInferred ? 'inferred from incoming SYNs' : 'given',
    vips: a.vips.map((vip) => {
      const t = a.tally.get(vip);
      return {
        ip: vip,
        outcomes: t?.outcomes ?? null,
        paths: t?.paths ?? {},
        ingressPackets: t?.ingressPackets ?? {},
        retransmittedSyns: t?.retransmittedSyns ?? 0,
        observedClients: a.observedClients.get(vip) ?? [],
      };
    }),
    flows: a.flows,
    openFlows: a.flowCount,
    evictions: a.evictions,
    skipped: a.skipped,
    decodeFailures: a.decodeFailures,
    check,
    findings,
    summary: severityCounts(findings),
    exitCode: exitCodeFor(findings),
  };
}

export function analyzeReportText(meta: AnalyzeMeta, a: CaptureAnalysis, check: CheckReportJson | null): string {
  const j = analyzeReportJson(meta, a, check);
  const out: string[] = [];
  out.push(`asymroute analyze: ${meta.file} (${a.format}, link type ${a.linktypes.join(', ') || '?'}, ${a.records} packets)`);
  out.push(
    `interface names: ${meta.linksSource ?? (a.interfacesKnown ? 'none given: indexes shown as ifN (use --links)' : 'the capture has no interface indexes')}`,
  );
  if (a.formatError) out.push(`WARNING: reading stopped early: ${a.formatError}`);
  out.push(`VIPs (${j.vipSource}): ${a.vips.join(', ') || 'none'}`);
  for (const v of j.vips) {
    out.push('');
    if (!v.outcomes) {
      out.push(`  ${v.ip}: no traffic in the capture`);
      continue;
    }
    const oc = FLOW_OUTCOMES.filter((o) => v.outcomes![o] > 0)
      .map((o) => `${v.outcomes![o]} ${o}`)
      .join(', ');
    out.push(`  ${v.ip}: flows ${oc || 'none'}`);
    out.push(`    paths (in -> out): ${pathsText(v.paths) || 'none'}`);
    out.push(
      `    request packets by interface: ${
        Object.entries(v.ingressPackets)
          .map(([k, n]) => `${k} ${n}`)
          .join(', ') || 'none'
      }`,
    );
    if (v.retransmittedSyns) out.push(`    retransmitted SYNs: ${v.retransmittedSyns}`);
  }
  if (a.flows.length) {
    out.push('');
    out.push('Recent flows:');
    for (const f of a.flows.slice(0, 10)) {
      out.push(
        `  ${f.client}:${f.cport} -> ${f.vip}:${f.vport}  in ${f.ingress ?? '?'} out ${f.egress ?? '-'}  ${f.packetsIn}/${f.packetsOut} pkts  SYNs ${f.syns}${f.synAck ? ' SYN-ACK' : ''}  ${f.outcome}`,
      );
    }
  }
  out.push('');
  if (j.findings.length === 0) out.push('No findings.');
  else {
    out.push(`Findings (${j.findings.length}):`);
    for (const f of j.findings) {
      out.push(`  ${f.severity.toUpperCase()} ${f.type}: ${f.summary}`);
      for (const e of f.evidence) out.push(`      evidence: ${e}`);
      for (const r of f.remediation) {
        out.push(`      fix: ${r.title}`);
        for (const c of r.commands) out.push(`          ${c}`);
      }
    }
  }
  const skipped = Object.entries(a.skipped)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  const failed = Object.entries(a.decodeFailures)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  out.push('');
  out.push(`Packets not in flows: ${skipped || 'none'}; decode failures: ${failed || 'none'}`);
  out.push(`Result: ${j.summary.critical} critical, ${j.summary.warning} warning, ${j.summary.info} info; exit ${j.exitCode}`);
  return out.join('\n');
}
