// Every capture in captures/ (recorded in namespace scenarios by bench/record-captures.ts) against the findings
// its scenario was built to produce, through `asymroute analyze --json` as a user runs it (no root needed).

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runCli } from '../helpers/cli.js';

const DIR = join(ROOT, 'captures');
const EXPECTED = readdirSync(DIR).filter((f) => f.endsWith('.expected.json')).sort();

interface Expected {
  scenario: string;
  vip: string;
  outcomes: Record<string, number>;
  paths: Record<string, number>;
  findings: Array<Record<string, string>>;
  minRetransmittedSyns: number;
}

describe('shipped captures', () => {
  it('there is one per scenario', () => {
    expect(EXPECTED.map((f) => f.replace('.expected.json', ''))).toEqual(['fixed-default-route', 'fixed-policy-routing', 'rp-filter-strict', 'vagrant-incident']);
  });

  it.each(EXPECTED)('%s', async (f) => {
    const exp = JSON.parse(readFileSync(join(DIR, f), 'utf8')) as Expected;
    const r = await runCli(['analyze', '--json', join(DIR, `${exp.scenario}.pcap`)], { env: { ASYMROUTE_CONFIG: '' } });
    const report = JSON.parse(r.stdout);
    expect(report.formatError).toBeNull();
    expect(report.vipSource).toBe('inferred from incoming SYNs');
    expect(report.vips.map((v: { ip: string }) => v.ip)).toEqual([exp.vip]);
    const vip = report.vips[0];
    expect(Object.fromEntries(Object.entries(vip.outcomes).filter(([, n]) => (n as number) > 0))).toEqual(exp.outcomes);
    expect(vip.paths).toEqual(exp.paths);
    expect(vip.retransmittedSyns).toBeGreaterThanOrEqual(exp.minRetransmittedSyns);
    // Observed clients come from answered flows only: nothing answered the rp_filter scenario's client.
    expect(vip.observedClients).toEqual(exp.outcomes.unanswered ? [] : ['203.0.113.5']);
    expect(report.findings.map((x: Record<string, unknown>) => Object.fromEntries(Object.keys(exp.findings[0] ?? { type: 1 }).map((k) => [k, x[k]])))).toEqual(exp.findings);
    expect(r.exitCode).toBe(exp.findings.length ? 1 : 0);
    expect(report.decodeFailures).toEqual({});
  });

  it('the incident in text names the VIP, eth1 -> eth0 and the retransmitted SYNs', async () => {
    const r = await runCli(['analyze', join(DIR, 'vagrant-incident.pcap')], { env: { ASYMROUTE_CONFIG: '' } });
    expect(r.stdout).toMatch(/interface names: .*vagrant-incident\.links\.json/);
    expect(r.stdout).toMatch(/CRITICAL asymmetric-flows-observed: 192\.168\.1\.240: 3 flows arrived on eth1 and their replies left on eth0; clients retransmitted their SYN \d+ times: from their side the SYNs went unanswered/);
  });

  it('a links file that is not `ip -j link` output is refused', async () => {
    const r = await runCli(['analyze', '--json', '--links', '/dev/null', join(DIR, 'vagrant-incident.pcap')], { env: { ASYMROUTE_CONFIG: '' } });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/links file \/dev\/null/);
  });

  it('with a snapshot it also runs the static check, with the observed client', async () => {
    // The fixture is `asymroute snapshot` of the incident's node namespace (buildIncidentLab), taken once.
    const r = await runCli(['analyze', '--json', '--snapshot', join(ROOT, 'test/fixtures/vagrant-incident.snapshot.json'), join(DIR, 'vagrant-incident.pcap')], { env: { ASYMROUTE_CONFIG: '' } });
    const report = JSON.parse(r.stdout);
    expect(report.check.findings.map((f: { type: string }) => f.type).sort()).toEqual(['asymmetric-reply-path', 'default-route-on-management-network']);
    const paths = report.check.vips[0].paths;
    expect(paths.find((p: { clientKind: string }) => p.clientKind === 'observed')).toMatchObject({ client: '203.0.113.5', egress: ['eth0'], verdict: 'asymmetric' });
  });
});
