// The static reply-path check: the verdicts for every VIP, worded as findings.

import { parsePrefix } from '../net/ip.js';
import { sortFindings, type Finding } from '../findings/registry.js';
import { hostFindings, vipFindings } from './findings.js';
import { analyseVips, type CheckInput, type VipReport } from './verdicts.js';

export interface CheckResult {
  vips: VipReport[];
  findings: Finding[];
}

export async function checkReplyPaths(input: CheckInput): Promise<CheckResult> {
  const analyses = await analyseVips(input);
  const reports = analyses.map((a) => a.report);
  const findings = analyses.flatMap((a) => vipFindings(a, input.snapshot, input.gateways));
  findings.push(
    ...hostFindings(
      input.snapshot,
      reports,
      input.managementCidrs.map((c) => parsePrefix(c)),
    ),
  );
  return { vips: reports, findings: sortFindings(findings) };
}
