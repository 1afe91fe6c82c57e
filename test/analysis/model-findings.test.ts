// The route model disagreeing with the kernel or declining to answer, and a capture whose frames carry no interface
// index, from made-up inputs; test/scenarios/model-findings-netns.test.ts raises the same findings for real reasons.

import { describe, expect, it } from 'vitest';
import { evidenceFindings } from '../../agent/analysis/live-evidence.js';
import { checkReplyPaths } from '../../agent/reply-path/check.js';
import { DEFAULT_MANAGEMENT_CIDRS } from '../../agent/reply-path/verdicts.js';
import type { KernelOracle } from '../../agent/model/route-question.js';
import type { HostSnapshot } from '../../agent/model/host-state.js';
import { rule, snapshot } from '../helpers/snapshot.js';

const VIP = { ip: '192.168.1.240', ingress: null, source: 'flag' as const };

// The kernel of the incident node: replies leave by the default route on eth0; 192.168.121.1 is on-link there.
const incidentKernel: KernelOracle = async (q) => ({
  ok: true,
  type: 'unicast',
  dev: 'eth0',
  gateway: q.dst === '192.168.121.1' ? null : '192.168.121.1',
});

const check = (snap: HostSnapshot, oracle: KernelOracle) =>
  checkReplyPaths({ snapshot: snap, vips: [VIP], clientCidrs: ['203.0.113.0/24'], managementCidrs: DEFAULT_MANAGEMENT_CIDRS, oracle });

describe('route-model findings', () => {
  it('route-model-mismatch when the kernel answers otherwise, and the kernel answer is used', async () => {
    const r = await check(snapshot([], []), async (q) =>
      q.dst.startsWith('203.0.113.') ? { ok: true, type: 'unicast', dev: 'eth1', gateway: '192.168.1.254' } : incidentKernel(q),
    );
    const f = r.findings.filter((x) => x.type === 'route-model-mismatch');
    expect(f.map((x) => x.client).sort()).toEqual(['203.0.113.1', '203.0.113.77']);
    expect(f[0]!.severity).toBe('info');
    expect(f[0]!.evidence.join('\n')).toMatch(/kernel: .*eth1/);
    expect(f[0]!.evidence.join('\n')).toMatch(/model: .*eth0/);
    const path = r.vips[0]!.paths.find((p) => p.client === f[0]!.client)!;
    expect(path.modelAgrees).toBe(false);
    expect(path.egress).toEqual(['eth1']);
  });

  it('no route-model finding when the kernel agrees', async () => {
    const r = await check(snapshot([], []), incidentKernel);
    expect(r.vips[0]!.paths.map((p) => p.modelAgrees)).toEqual([true, true, true]);
    expect(r.findings.map((x) => x.type)).not.toContain('route-model-mismatch');
    expect(r.findings.map((x) => x.type)).not.toContain('route-model-unknown');
  });

  it('route-model-unknown when a rule uses a selector the model does not evaluate', async () => {
    const snap = snapshot([], [rule({ priority: 10, unsupported: ['ipproto "tcp"'] })]);
    const r = await check(snap, incidentKernel);
    const f = r.findings.find((x) => x.type === 'route-model-unknown');
    expect(f?.summary).toMatch(/cannot explain replies to .*: rule 10 uses selectors the model does not evaluate/);
    expect(f?.evidence).toEqual([expect.stringMatching(/^kernel: /)]);
    // The kernel answered a question without the selector: every path says its answer may not be what replies get.
    expect(r.vips[0]!.paths.map((p) => p.reason)).toEqual(
      r.vips[0]!.paths.map(() =>
        expect.stringMatching(
          /uses selectors the model does not evaluate .*: the kernel's answer to a question without them may not be what replies get$/,
        ),
      ),
    );
    const offline = await check(snap, async () => null);
    expect(offline.findings.find((x) => x.type === 'route-model-unknown')?.evidence).toEqual(['no kernel answer (offline snapshot)']);
  });
});

describe('capture-without-interfaces', () => {
  const skipped = (noInterface: number) => ({
    'not-ip': 0,
    'not-vip': 0,
    'no-interface': noInterface,
    'no-ports': 0,
    'outgoing-request': 0,
    'incoming-reply': 0,
    'too-many-services': 0,
    'icmp-error-unmatched': 0,
  });

  it('is raised when VIP packets carry no interface index', () => {
    const f = evidenceFindings({ tally: new Map(), skipped: skipped(7), interfacesKnown: false });
    expect(f.map((x) => x.type)).toEqual(['capture-without-interfaces']);
    expect(f[0]!.severity).toBe('warning');
    expect(f[0]!.summary).toMatch(/^7 VIP packets carry no interface index/);
  });

  it('is not raised with interface indexes, or without such packets', () => {
    expect(evidenceFindings({ tally: new Map(), skipped: skipped(7), interfacesKnown: true })).toEqual([]);
    expect(evidenceFindings({ tally: new Map(), skipped: skipped(0), interfacesKnown: false })).toEqual([]);
  });
});
