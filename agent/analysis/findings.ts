// Findings: stable types and severities, usable as bounded metric labels and table-test cases.

export const FINDING_TYPES = [
  'asymmetric-reply-path',
  'rp-filter-drop',
  'reply-unroutable',
  'reply-path-unknown',
  'vip-outside-connected-subnets',
  'vip-not-local',
  'competing-default-routes',
  'default-route-on-management-network',
  'multipath-default-spans-interfaces',
  'route-model-unknown',
  'route-model-mismatch',
  'asymmetric-flows-observed',
  'syn-unanswered',
  'capture-without-interfaces',
  'vip-arp-unanswered',
  'vip-arp-conflict',
  'bgp-session-down',
] as const;

export type FindingType = (typeof FINDING_TYPES)[number];

export const SEVERITIES = ['critical', 'warning', 'info'] as const;
export type Severity = (typeof SEVERITIES)[number];

export interface Remediation {
  title: string;
  /** Shell lines for a person to run; every value in them was validated as an address or interface name. */
  commands: string[];
  note?: string;
}

export interface Finding {
  type: FindingType;
  severity: Severity;
  vip: string | null;
  summary: string;
  evidence: string[];
  remediation: Remediation[];
  ingress?: string | null;
  egress?: string | null;
  client?: string | null;
  /** the BGP peer a session finding is about */
  peer?: string | null;
  /** the rule and route that made the decision, as `ip rule` / `ip route` print them */
  rule?: string | null;
  route?: string | null;
}

export function severityRank(s: Severity): number {
  return SEVERITIES.indexOf(s);
}

export function sortFindings(f: Finding[]): Finding[] {
  return [...f].sort((a, b) => severityRank(a.severity) - severityRank(b.severity) || a.type.localeCompare(b.type) || (a.vip ?? '').localeCompare(b.vip ?? ''));
}
