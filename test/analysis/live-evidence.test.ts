// evidenceFindings and pathsText on hand-made tallies: each finding's text asserted whole (written out here, not
// built with the production helpers), which paths count as asymmetric, and how the static check's view of a VIP
// changes the advice.

import { describe, expect, it } from 'vitest';
import type { PacketSkip, VipTally } from '../../agent/analysis/flow-matcher.js';
import { evidenceFindings, pathsText } from '../../agent/analysis/live-evidence.js';
import type { PathReport, VipReport } from '../../agent/reply-path/verdicts.js';

const VIP = '192.0.2.10';

function tally(t: Partial<Omit<VipTally, 'outcomes'>> & { outcomes?: Partial<VipTally['outcomes']> } = {}): VipTally {
  return {
    outcomes: { symmetric: 0, asymmetric: 0, unanswered: 0, 'no-reply': 0, reset: 0, pending: 0, ...t.outcomes },
    paths: t.paths ?? {},
    ingressPackets: t.ingressPackets ?? {},
    retransmittedSyns: t.retransmittedSyns ?? 0,
  };
}

function skipped(noInterface = 0): Record<PacketSkip, number> {
  return new Proxy({} as Record<PacketSkip, number>, { get: (_, k) => (k === 'no-interface' ? noInterface : 0) });
}

function path(p: Partial<PathReport>): PathReport {
  return {
    kind: 'local',
    backend: null,
    mark: null,
    reason: null,
    client: '198.51.100.1',
    clientKind: 'default-route',
    cidr: null,
    question: { dst: '198.51.100.1', src: VIP },
    kernel: { ok: true, type: 'unicast', dev: 'eth0', gateway: '192.0.2.1' },
    model: { kind: 'route', devs: ['eth0'], gateways: ['192.0.2.1'] },
    egress: ['eth0'],
    gateway: '192.0.2.1',
    verdict: 'symmetric',
    rule: null,
    route: null,
    ...p,
  } as PathReport;
}

function report(r: Partial<VipReport>): VipReport {
  return { ip: VIP, backends: [], blind: [], paths: [], ...r } as VipReport;
}

describe('pathsText', () => {
  it('lists paths by flow count, largest first, with arrows', () => {
    expect(pathsText({ 'eth1>eth0': 2, 'eth0>eth0': 5, 'eth1>-': 1 })).toBe('eth0 -> eth0: 5, eth1 -> eth0: 2, eth1 -> -: 1');
    expect(pathsText({})).toBe('');
  });
});

describe('evidenceFindings', () => {
  it('reports packets without an interface index only when the capture had none', () => {
    const f = evidenceFindings({ tally: new Map(), skipped: skipped(7), interfacesKnown: false });
    expect(f).toEqual([
      {
        type: 'capture-without-interfaces',
        severity: expect.any(String),
        vip: null,
        summary: '7 VIP packets carry no interface index (not LINUX_SLL2): live evidence of ingress and egress is unavailable',
        evidence: ['capture with tcpdump -i any -y LINUX_SLL2 (tcpdump >= 4.99 with libpcap >= 1.10)'],
        remediation: [],
      },
    ]);
  });

  it('names the first asymmetric path, leaving out unanswered, unknown-ingress and symmetric ones', () => {
    const t = tally({
      outcomes: { asymmetric: 3, symmetric: 4 },
      paths: { 'eth0>eth0': 4, 'eth1>-': 1, '?>eth0': 2, 'eth1>eth0': 3 },
    });
    const [f, ...rest] = evidenceFindings({ tally: new Map([[VIP, t]]), skipped: skipped(), interfacesKnown: true });
    expect(rest).toEqual([]);
    expect(f).toMatchObject({
      type: 'asymmetric-flows-observed',
      vip: VIP,
      summary: `${VIP}: 3 flows arrived on eth1 and their replies left on eth0`,
      evidence: ['flows by path (in -> out): eth0 -> eth0: 4, eth1 -> eth0: 3, ? -> eth0: 2, eth1 -> -: 1'],
      remediation: [
        { title: `run asymroute check --vip ${VIP} for the rule and route that send the replies out on eth0, and the fix`, commands: [] },
      ],
      ingress: 'eth1',
      egress: 'eth0',
    });
  });

  it('says so when no path qualifies, and adds retransmitted SYNs', () => {
    const t = tally({ outcomes: { asymmetric: 1 }, paths: { 'eth0>eth0': 1 }, retransmittedSyns: 2 });
    const [f] = evidenceFindings({ tally: new Map([[VIP, t]]), skipped: skipped(), interfacesKnown: true });
    expect(f).toMatchObject({
      summary: `${VIP}: 1 flows arrived on ? and their replies left on ?; clients retransmitted their SYN 2 times: from their side the SYNs went unanswered`,
      ingress: '?',
      egress: '?',
    });
  });

  it.each(['asymmetric', 'unknown', 'unroutable'] as const)(
    'points to the static finding when the static check saw a %s path',
    (verdict) => {
      const t = tally({ outcomes: { asymmetric: 2 }, paths: { 'eth1>eth0': 2 } });
      const sv = report({ paths: [path({ verdict: 'symmetric' }), path({ verdict })] });
      const [f] = evidenceFindings({ tally: new Map([[VIP, t]]), skipped: skipped(), interfacesKnown: true, staticVip: () => sv });
      expect(f).toMatchObject({
        summary: `${VIP}: 2 flows arrived on eth1 and their replies left on eth0`,
        evidence: ['flows by path (in -> out): eth1 -> eth0: 2'],
        remediation: [{ title: `see the asymmetric-reply-path finding for ${VIP}: the rule, the route and the fix`, commands: [] }],
      });
    },
  );

  it('takes a VIP the static check does not know as not checked', () => {
    const t = tally({ outcomes: { asymmetric: 1 }, paths: { 'eth1>eth0': 1 } });
    const [f] = evidenceFindings({ tally: new Map([[VIP, t]]), skipped: skipped(), interfacesKnown: true, staticVip: () => null });
    expect(f?.remediation[0]?.title).toBe(
      `run asymroute check --vip ${VIP} for the rule and route that send the replies out on eth0, and the fix`,
    );
  });

  it('shows what the static check asked when it saw every path fine', () => {
    const t = tally({ outcomes: { asymmetric: 2 }, paths: { 'eth1>eth0': 2 } });
    const sv = report({
      backends: [
        {
          ip: '10.0.0.5',
          port: 8080,
          vipPort: 80,
          sources: ['iptables', 'conntrack'],
          rules: [],
          local: false,
          iif: 'cni0',
          iifReason: '',
          snat: true,
          ctMarks: [0x10, 0xff],
          node: null,
        },
        {
          ip: '192.0.2.10',
          port: null,
          vipPort: null,
          sources: ['nft'],
          rules: [],
          local: true,
          iif: null,
          iifReason: '',
          snat: false,
          ctMarks: [],
          node: null,
        },
        {
          ip: '10.0.0.6',
          port: 80,
          vipPort: 80,
          sources: ['conntrack'],
          rules: [],
          local: false,
          iif: null,
          iifReason: '',
          snat: null,
          ctMarks: [],
          node: null,
        },
        {
          ip: '10.0.0.7',
          port: 80,
          vipPort: 80,
          sources: ['conntrack'],
          rules: [],
          local: false,
          iif: 'cni0',
          iifReason: '',
          snat: false,
          ctMarks: [],
          node: null,
        },
        {
          ip: '10.0.0.8',
          port: 80,
          vipPort: 80,
          sources: ['conntrack'],
          rules: [],
          local: false,
          iif: 'cni0',
          iifReason: '',
          snat: false,
          ctMarks: [],
          node: null,
        },
      ],
      blind: ['an eBPF program on eth1'],
      paths: [
        path({ clientKind: 'gateway', question: { dst: '192.0.2.1', src: VIP } }),
        path({ question: { dst: '198.51.100.1', src: VIP, iif: 'eth1', mark: 16 } }),
        path({
          question: { dst: '2001:db8::1', src: '2001:db8::10', oif: 'eth0' },
          kernel: { ok: false, errno: 'ENETUNREACH', message: 'RTNETLINK answers: Network is unreachable' },
        }),
        path({ question: { dst: '198.51.100.3' }, kernel: { ok: true, type: 'local', dev: 'lo', gateway: null } }),
        path({ question: { dst: '198.51.100.4' }, kernel: null }),
        path({ question: { dst: '198.51.100.5' } }),
      ],
    });
    const [f] = evidenceFindings({ tally: new Map([[VIP, t]]), skipped: skipped(), interfacesKnown: true, staticVip: () => sv });
    expect(f).toMatchObject({
      summary: `${VIP}: 2 flows arrived on eth1 and their replies left on eth0; the static check finds every path it models for ${VIP} leaving on eth1, yet replies left on eth0: the static model misses this path`,
      evidence: [
        'flows by path (in -> out): eth1 -> eth0: 2',
        "backend 10.0.0.5:8080 (iptables, conntrack): replies arrive on cni0, SNAT'd, conntrack marks 0x10, 0xff",
        'backend 192.0.2.10 (nft): replies sent locally',
        'backend 10.0.0.6:80 (conntrack): replies arrive on ?',
        'backend 10.0.0.7:80 (conntrack): replies arrive on cni0',
        `static: ip route get 198.51.100.1 from ${VIP} iif eth1 mark 16 -> via 192.0.2.1 dev eth0 (symmetric)`,
        'static: ip -6 route get 2001:db8::1 from 2001:db8::10 oif eth0 -> error ENETUNREACH (Network is unreachable) (symmetric)',
        'static: ip route get 198.51.100.3 -> local dev lo (symmetric)',
        'static: ip route get 198.51.100.4 -> no kernel answer (symmetric)',
        'cannot see: an eBPF program on eth1',
      ],
      remediation: [
        {
          title: 'find what sends these replies elsewhere: compare the live connections with what the static check asked',
          commands: [
            `conntrack -L -d ${VIP}`,
            `ip route get 198.51.100.1 from ${VIP} iif eth1 mark 16`,
            'ip -6 route get 2001:db8::1 from 2001:db8::10 oif eth0',
          ],
          note: 'candidates the model does not see: tc or eBPF redirects, marks written after PREROUTING, a backend no rule, conntrack entry or EndpointSlice names; please report it with `asymroute snapshot`',
        },
      ],
      ingress: 'eth1',
      egress: 'eth0',
    });
  });

  it('reports unanswered SYNs with the interfaces they came in on', () => {
    const t = tally({ outcomes: { unanswered: 3, symmetric: 2, reset: 1 }, paths: { 'eth1>-': 2, 'eth2>-': 1, 'eth1>eth1': 2 } });
    const f = evidenceFindings({ tally: new Map([[VIP, t]]), skipped: skipped(), interfacesKnown: true });
    expect(f).toEqual([
      {
        type: 'syn-unanswered',
        severity: expect.any(String),
        vip: VIP,
        summary: `${VIP}: 3 TCP SYNs got no reply on any interface (requests in on eth1 (2), eth2 (1))`,
        evidence: ['outcomes: symmetric 2, unanswered 3, reset 1'],
        remediation: [
          {
            title: 'nothing answered: no listener, a firewall, or rp_filter dropping the request (asymroute check shows rp-filter-drop)',
            commands: [],
          },
        ],
        ingress: null,
      },
    ]);
  });

  it('names the one interface unanswered SYNs came in on, or ? when none is known', () => {
    const one = evidenceFindings({
      tally: new Map([[VIP, tally({ outcomes: { unanswered: 1 }, paths: { 'eth1>-': 1 } })]]),
      skipped: skipped(),
      interfacesKnown: true,
    });
    expect(one[0]).toMatchObject({
      summary: `${VIP}: 1 TCP SYNs got no reply on any interface (requests in on eth1 (1))`,
      ingress: 'eth1',
    });
    const none = evidenceFindings({
      tally: new Map([[VIP, tally({ outcomes: { unanswered: 1 } })]]),
      skipped: skipped(),
      interfacesKnown: true,
    });
    expect(none[0]).toMatchObject({ summary: `${VIP}: 1 TCP SYNs got no reply on any interface (requests in on ?)`, ingress: null });
  });

  it('reports nothing for symmetric, reset, pending and no-reply flows', () => {
    const t = tally({ outcomes: { symmetric: 5, reset: 1, pending: 2, 'no-reply': 3 }, paths: { 'eth0>eth0': 6 } });
    expect(evidenceFindings({ tally: new Map([[VIP, t]]), skipped: skipped(4), interfacesKnown: true })).toEqual([]);
  });
});
