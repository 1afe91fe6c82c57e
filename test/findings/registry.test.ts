// The finding registry against what is derived from it: the chart's PrometheusRule (as rendered, every alert on) may
// select only finding types that exist, and each alert that selects a type is the one the registry records for it;
// every type says what it means and what to do; docs/findings.md is what the generator writes.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FINDINGS, type FindingSpec } from '../../agent/findings/registry.js';
import { BEGIN_MARKER, FINDINGS_DOC, updateFindingsDoc } from '../../agent/findings/findings-doc.js';
import { defaultValues, renderChart } from '../helpers/helm.js';

interface Rule {
  alert: string;
  expr: string;
}

type Registry = Record<string, FindingSpec>;

/** The finding types an expression selects: `type="x"`, or each branch of a plain `type=~"x|y"`. */
function selectedTypes(expr: string): string[] {
  const out: string[] = [];
  for (const m of expr.matchAll(/\btype\s*(=~|=)\s*"([^"]*)"/g)) out.push(...(m[1] === '=~' ? m[2]!.split('|') : [m[2]!]));
  return out;
}

/** Every disagreement between the registry and the rules, as sentences; empty when they agree. */
function ruleProblems(rules: Rule[], registry: Registry): string[] {
  const problems: string[] = [];
  const names = new Set(rules.map((r) => r.alert));
  for (const r of rules) {
    for (const t of selectedTypes(r.expr)) {
      const spec = registry[t];
      if (!spec) problems.push(`alert ${r.alert} selects type="${t}", which the registry does not have`);
      else if (spec.alert !== r.alert)
        problems.push(`alert ${r.alert} selects type="${t}", whose registry alert is ${spec.alert ?? 'none'}`);
    }
  }
  for (const [t, spec] of Object.entries(registry)) {
    if (spec.alert && !names.has(spec.alert)) problems.push(`${t}: its alert ${spec.alert} is not in the PrometheusRule`);
  }
  return problems;
}

function docProblems(registry: Registry): string[] {
  const problems: string[] = [];
  for (const [t, spec] of Object.entries(registry)) {
    if (!spec.meaning.trim()) problems.push(`${t} has no meaning`);
    if (!spec.action.trim()) problems.push(`${t} has no action`);
    if (spec.raisedBy.length === 0) problems.push(`${t} is raised by no command`);
  }
  return problems;
}

function renderedRules(): Rule[] {
  const alerts = (defaultValues()['prometheusRule'] as { alerts: Record<string, unknown> }).alerts;
  const on = Object.fromEntries(Object.keys(alerts).map((k) => [k, { enabled: true }]));
  const r = renderChart({ prometheusRule: { enabled: true, alerts: on } });
  const pr = r.objects.find((o) => o.kind === 'PrometheusRule') as unknown as { spec: { groups: Array<{ rules: Rule[] }> } };
  return pr.spec.groups.flatMap((g) => g.rules);
}

describe('finding registry', () => {
  const rules = renderedRules();
  const registry: Registry = FINDINGS;

  it('the PrometheusRule selects only registered types, and the alerts agree with the registry both ways', () => {
    expect(rules.length).toBeGreaterThan(10);
    // What the check covers: alerts that select a finding type, and registry alerts on other metrics.
    expect(
      rules
        .filter((r) => selectedTypes(r.expr).length > 0)
        .map((r) => r.alert)
        .sort(),
    ).toEqual(['AsymrouteReplyPathUnknown', 'AsymrouteRpFilterDroppingVipTraffic', 'AsymrouteVipArpUnanswered']);
    expect(ruleProblems(rules, registry)).toEqual([]);
  });

  it('finds an unknown type, a missing alert and an alert the registry does not record', () => {
    const unknown = rules.map((r) =>
      r.alert === 'AsymrouteReplyPathUnknown' ? { ...r, expr: r.expr.replace('type="reply-path-unknown"', 'type="reply-path-unkown"') } : r,
    );
    expect(ruleProblems(unknown, registry)).toEqual([
      'alert AsymrouteReplyPathUnknown selects type="reply-path-unkown", which the registry does not have',
    ]);
    const missing = rules.filter((r) => r.alert !== 'AsymrouteBgpSessionDown');
    expect(ruleProblems(missing, registry)).toEqual(['bgp-session-down: its alert AsymrouteBgpSessionDown is not in the PrometheusRule']);
    const unrecorded: Registry = { ...registry, 'vip-arp-unanswered': { ...registry['vip-arp-unanswered']!, alert: undefined } };
    expect(ruleProblems(rules, unrecorded)).toEqual([
      'alert AsymrouteVipArpUnanswered selects type="vip-arp-unanswered", whose registry alert is none',
    ]);
    expect(selectedTypes('x{type=~"a|b"} + y{type = "c"}')).toEqual(['a', 'b', 'c']);
  });

  it('every type says what it means, what to do and which commands raise it', () => {
    expect(Object.keys(registry).length).toBeGreaterThan(10);
    expect(docProblems(registry)).toEqual([]);
    const empty: Registry = { ...registry, 'syn-unanswered': { ...registry['syn-unanswered']!, meaning: ' ', action: '' } };
    expect(docProblems(empty)).toEqual(['syn-unanswered has no meaning', 'syn-unanswered has no action']);
  });

  it('docs/findings.md is what `npm run docs` writes from the registry', () => {
    const doc = readFileSync(FINDINGS_DOC, 'utf8');
    expect(doc).toContain(BEGIN_MARKER);
    expect(doc, 'run `npm run docs`').toBe(updateFindingsDoc(doc));
    for (const [t, spec] of Object.entries(registry)) {
      expect(doc).toContain(`### ${t}\n`);
      expect(doc).toContain(spec.meaning);
      expect(doc).toContain(spec.action);
    }
    // A registry change changes the page; the prose outside the markers is kept.
    const changed: Registry = { ...registry, 'syn-unanswered': { ...registry['syn-unanswered']!, action: 'something else' } };
    expect(updateFindingsDoc(doc, changed)).not.toBe(doc);
    expect(updateFindingsDoc(`intro\n${doc}\nafter`)).toBe(`intro\n${doc}\nafter`);
  });
});
