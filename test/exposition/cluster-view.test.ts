// The cluster view's decisions without a cluster: the worst path is the VIP's static verdict, live flows rank
// asymmetric over unanswered over ok, an announcer nobody reported is unknown (not "no"), and the exit code.

import { describe, expect, it } from 'vitest';
import { clusterText, clusterView, type AgentOutcome, type AgentReport } from '../../agent/exposition/cluster-view.js';

const report = (over: Partial<AgentReport> & { verdicts?: string[]; announced?: boolean | null }): AgentReport =>
  ({
    schema: 'asymroute.check/v1',
    node: 'n',
    takenAt: '2026-11-28T00:00:00Z',
    source: 'live',
    vipSource: 'kubernetes',
    vips: [
      {
        ip: '192.0.2.10',
        source: 'kubernetes',
        service: 'shop/web',
        holder: null,
        ingress: 'eth1',
        ingressReason: 'x',
        announcement:
          over.announced === null || over.announced === undefined ? null : { here: over.announced, nodes: ['a'], interfaces: [] },
        bgp: null,
        subnet: null,
        rpFilter: null,
        backends: [],
        blind: [],
        paths: (over.verdicts ?? ['symmetric']).map((verdict) => ({ verdict })),
      },
    ],
    findings: [],
    summary: { critical: 0, warning: 0, info: 0 },
    exitCode: 0,
    liveFlows: null,
    ...over,
  }) as unknown as AgentReport;

const answered = (node: string, r: AgentReport): AgentOutcome => ({
  node,
  pod: { namespace: 'x', name: `p-${node}`, node },
  state: 'answered',
  detail: null,
  report: r,
});
const view = (o: AgentOutcome[]) => clusterView(o, { selector: 's', takenAt: 't', notes: [] });

describe('cluster view', () => {
  it('gives a VIP the verdict of its worst path on each node', () => {
    const cases: Array<[string[], string]> = [
      [['symmetric', 'symmetric'], 'ok'],
      [['symmetric', 'unknown'], 'unknown'],
      [['unknown', 'unroutable'], 'no-route'],
      [['unroutable', 'asymmetric', 'symmetric'], 'asymmetric'],
      [[], 'unknown'],
      [['symmetric', 'connected-elsewhere'], 'ok'],
      [['symmetric', 'no-ingress'], 'unknown'],
      [['symmetric', 'a-verdict-from-a-newer-agent'], 'unknown'],
    ];
    for (const [verdicts, want] of cases)
      expect(view([answered('a', report({ verdicts }))]).vips[0]!.nodes[0]!.static, verdicts.join()).toBe(want);
  });

  it('ranks live flows: asymmetric, then unanswered SYNs, then ok (a request without reply is not evidence); no table means not captured', () => {
    const live = (outcomes: Record<string, number> | null) =>
      view([answered('a', report({ liveFlows: outcomes ? { '192.0.2.10': { outcomes } } : null }))]).vips[0]!.nodes[0]!.live;
    expect(live({ symmetric: 5, asymmetric: 1 })).toBe('asymmetric');
    expect(live({ symmetric: 5, unanswered: 1 })).toBe('unanswered');
    expect(live({ symmetric: 5, 'no-reply': 3 })).toBe('ok');
    expect(live({ symmetric: 5, reset: 2 })).toBe('ok');
    expect(live({ pending: 2 })).toBe('no-flows');
    expect(live(null)).toBe('not-captured');
    expect(view([answered('a', report({ liveFlows: {} }))]).vips[0]!.nodes[0]!.live).toBe('no-flows');
  });

  it('says unknown for an announcer no status reported, no when another node announces', () => {
    expect(view([answered('a', report({ announced: null }))]).vips[0]!.nodes[0]!.announces).toBeNull();
    expect(view([answered('a', report({ announced: false }))]).vips[0]!.nodes[0]!.announces).toEqual([]);
    expect(view([answered('a', report({ announced: true }))]).vips[0]!.nodes[0]!.announces).toEqual(['MetalLB L2']);
    const both = report({ announced: true });
    Object.assign(both.vips[0]!, { kubeVip: { here: true, nodes: ['a'], via: 'lease', lease: 'shop/kubevip-web' } });
    expect(view([answered('a', both)]).vips[0]!.nodes[0]!.announces).toEqual(['MetalLB L2', 'kube-vip']);
    const elsewhere = report({ announced: null });
    Object.assign(elsewhere.vips[0]!, { kubeVip: { here: false, nodes: ['b'], via: 'service-annotation', lease: null } });
    expect(view([answered('a', elsewhere)]).vips[0]!.nodes[0]!.announces).toEqual([]);
    expect(clusterText(view([answered('a', report({ announced: null }))]))).toMatch(/^192\.0\.2\.10 +shop\/web +a +\? +eth1 +ok/m);
  });

  it('exits 1 on findings or an agent that did not answer, 0 with only nodes that have no agent', () => {
    const healthy = answered('a', report({}));
    expect(view([healthy]).exitCode).toBe(0);
    expect(view([healthy, { node: 'b', pod: null, state: 'no-agent', detail: null, report: null }]).exitCode).toBe(0);
    expect(view([healthy, { node: 'b', pod: null, state: 'no-answer', detail: 'x', report: null }]).exitCode).toBe(1);
    expect(view([answered('a', report({ summary: { critical: 0, warning: 1, info: 0 } }))]).exitCode).toBe(1);
    expect(view([answered('a', report({ summary: { critical: 0, warning: 0, info: 3 } }))]).exitCode).toBe(0);
  });

  it('lists a VIP one agent does not watch as not watched there, and sorts VIPs as addresses', () => {
    const other = report({});
    other.vips[0]!.ip = '192.0.2.9';
    const v = view([answered('b', report({})), answered('a', other)]);
    expect(v.vips.map((x) => x.ip)).toEqual(['192.0.2.9', '192.0.2.10']);
    expect(v.vips[1]!.nodes.map((c) => [c.node, c.checked])).toEqual([
      ['a', false],
      ['b', true],
    ]);
    expect(clusterText(v)).toMatch(/^192\.0\.2\.10 +shop\/web +a +not watched by this agent/m);
  });
});
