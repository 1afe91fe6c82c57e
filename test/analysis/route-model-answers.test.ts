// The route model's answers compared whole (kind, errno and reason, note, rule, route, table, candidates, trace), so
// that an emptied text, a lost trace step or a wrong kind shows; each expectation follows the kernel function named.

import { describe, expect, it } from 'vitest';
import { describeRoute, describeRule, RouteModel, type ModelAnswer } from '../../agent/analysis/route-model.js';
import type { HostSnapshot, Nexthop, Route, Rule } from '../../agent/model/host-state.js';
import type { RouteQuestion } from '../../agent/model/route-question.js';
import { dualStack, route, rule, v6route, v6rule, via } from '../helpers/snapshot.js';

/** The answer with rules, routes and trace steps shortened to what identifies them. */
const view = (a: ModelAnswer) => ({
  ...a,
  ...('rule' in a ? { rule: a.rule ? a.rule.priority : null } : {}),
  ...('route' in a ? { route: a.route ? `${a.route.dst}@${a.route.table}` : null } : {}),
  trace: a.trace.map((t) => `${t.rule.priority}:${t.outcome}${t.route ? `:${t.route.dst}` : ''}`),
});

const hop = (gateway: string | null, dev: string | null, flags: string[] = [], weight = 1): Nexthop => ({ gateway, dev, weight, flags });
/** The incident node (eth0 management with the default route, eth1 LAN with the VIP) plus IPv6 on eth1. */
const node = (routes: Route[] = [], rules: Rule[] = [], edit: (s: HostSnapshot) => void = () => undefined) =>
  new RouteModel(dualStack(routes, rules, edit));
const ask = (m: RouteModel, q: RouteQuestion) => view(m.lookup(q));
const unknown = (reason: string, trace: string[] = []) => ({ kind: 'unknown', reason, trace });

describe('route model answers: refusals', () => {
  it.each<[string, RouteQuestion, string]>([
    ['destination not an address', { dst: 'example' }, 'destination "example" is not an IP address'],
    ['source of the other family', { dst: '203.0.113.5', src: 'fd00:1::1' }, 'source "fd00:1::1" is not an IPv4 address'],
    ['unknown interface', { dst: '203.0.113.5', oif: 'eth9' }, 'no interface named eth9 in the snapshot'],
    ['multicast destination', { dst: '224.0.0.5' }, 'multicast, broadcast and unspecified addresses are not modelled'],
    [
      'IPv6 oif without a source',
      { dst: '2001:db8::5', oif: 'eth1' },
      'IPv6 lookups with an output interface and no source address are not modelled',
    ],
    ['loopback source', { dst: '203.0.113.5', src: '127.0.0.1' }, 'loopback sources are not modelled'],
    ['input without a source', { dst: '192.168.1.240', iif: 'eth1' }, 'input lookups need a source address'],
    [
      'input with an oif',
      { dst: '192.168.1.240', src: '203.0.113.5', iif: 'eth1', oif: 'eth0' },
      'input lookups with an output interface are not modelled',
    ],
    [
      'input from a local address',
      { dst: '192.168.1.240', src: '192.168.1.10', iif: 'eth1' },
      'input lookups whose source is a local address depend on accept_local, which is not modelled',
    ],
  ])('%s', (_n, q, reason) => {
    expect(ask(node(), q)).toEqual(unknown(reason));
  });

  it('IPv6 source rules refuse only IPv6 questions without a source, and only for a real selector', () => {
    const m = node([], [], (s) => s.rules.push(v6rule({ priority: 100, src: 'fd00:9::/64', table: '100' })));
    expect(ask(m, { dst: '2001:db8::5' })).toEqual(
      unknown('IPv6 rules with a source selector and a question without a source are not modelled'),
    );
    // The IPv4 question is not concerned; a rule "from ::/0" matches every source, so it needs none.
    expect(ask(m, { dst: '203.0.113.5' }).kind).toBe('route');
    const all = node([], [], (s) => s.rules.push(v6rule({ priority: 100, src: '::/0', action: 'prohibit', table: null })));
    expect(ask(all, { dst: '2001:db8::5' })).toMatchObject({ kind: 'error', errno: 'EACCES', reason: 'prohibit-rule', rule: 100 });
  });

  it('IPv6 does not check that the source is local, IPv4 does (with the address in the note)', () => {
    expect(ask(node(), { dst: '2001:db8::5', src: '2001:db8:99::1' })).toMatchObject({
      kind: 'route',
      candidates: [{ dev: 'eth1', gateway: 'fd00:1::fe' }],
    });
    expect(ask(node(), { dst: '203.0.113.5', src: '10.9.9.9' })).toEqual({
      kind: 'error',
      errno: 'ENETUNREACH',
      reason: 'source-not-local',
      rule: null,
      route: null,
      trace: [],
      note: '10.9.9.9 is not an address of this host',
    });
  });
});

describe('route model answers: output', () => {
  it('an interface that is down, and a failed lookup with an oif (assumed on-link)', () => {
    const down = node([], [], (s) => (s.links.find((l) => l.name === 'eth0')!.flags = []));
    expect(ask(down, { dst: '203.0.113.5', oif: 'eth0' })).toEqual({
      kind: 'error',
      errno: 'ENETUNREACH',
      reason: 'no-route',
      rule: null,
      route: null,
      trace: [],
      note: 'eth0 is down',
    });
    const m = node([], [rule({ priority: 10, action: 'unreachable', table: null })]);
    expect(ask(m, { dst: '203.0.113.5', oif: 'eth1' })).toEqual({
      kind: 'route',
      type: 'unicast',
      candidates: [{ dev: 'eth1', gateway: null }],
      route: null,
      rule: 10,
      table: null,
      trace: ['0:no-route-in-table', '10:error'],
      note: 'no route matched; the kernel assumes 203.0.113.5 is on-link on eth1',
    });
  });

  it('IPv6 with an oif and no route: the error itself (no on-link assumption)', () => {
    const m = node([], [], (s) => (s.routes = s.routes.filter((r) => !(r.family === 6 && r.dst === 'default'))));
    expect(ask(m, { dst: '2001:db8::5', src: 'fd00:1::1', oif: 'eth1' })).toEqual({
      kind: 'error',
      errno: 'ENETUNREACH',
      reason: 'no-route',
      rule: null,
      route: null,
      trace: ['0:no-route-in-table', '32766:no-route-in-table'],
    });
  });

  it('a reject route names the route', () => {
    const m = node([route({ dst: '203.0.113.0/24', type: 'unreachable', nexthops: [] })]);
    expect(ask(m, { dst: '203.0.113.5' })).toEqual({
      kind: 'error',
      errno: 'EHOSTUNREACH',
      reason: 'unreachable-route',
      rule: 32766,
      route: '203.0.113.0/24@main',
      trace: ['0:no-route-in-table', '32766:error:203.0.113.0/24'],
    });
  });

  it('a broadcast route ends an output lookup as unknown, with its trace', () => {
    const m = node([route({ dst: '192.168.1.255', table: 'local', type: 'broadcast', nexthops: [hop(null, 'eth1')] })]);
    expect(ask(m, { dst: '192.168.1.255' })).toEqual(
      unknown('broadcast routes are not modelled for output lookups', ['0:selected:192.168.1.255']),
    );
  });

  it('every rule outcome in the trace', () => {
    const m = node(
      [
        route({ dst: '203.0.113.0/24', table: '100', type: 'throw', nexthops: [] }),
        route({ dst: '203.0.113.0/24', type: 'prohibit', nexthops: [] }),
      ],
      [
        rule({ priority: 10, action: 'goto', table: null, goto: 30 }),
        rule({ priority: 20, action: 'unreachable', table: null }),
        rule({ priority: 30, table: '200' }),
        rule({ priority: 40, action: 'goto', table: null, goto: 45 }),
        rule({ priority: 50, table: '100' }),
        rule({ priority: 60, table: 'main' }),
      ],
    );
    expect(ask(m, { dst: '203.0.113.5' })).toEqual({
      kind: 'error',
      errno: 'EACCES',
      reason: 'prohibit-route',
      rule: 60,
      route: '203.0.113.0/24@main',
      trace: [
        '0:no-route-in-table',
        '10:goto',
        '30:table-missing',
        '40:goto-unresolved',
        '50:throw:203.0.113.0/24',
        '60:error:203.0.113.0/24',
      ],
    });
  });

  it('a goto back to its own or an earlier priority, which the kernel refuses, is unknown rather than a loop', () => {
    for (const back of [10, 5]) {
      const m = node([], [rule({ priority: 5, table: '100' }), rule({ priority: 10, action: 'goto', table: null, goto: back })]);
      expect(ask(m, { dst: '203.0.113.5' })).toEqual(
        unknown(`rule 10 goes back to ${back}, which the kernel refuses`, ['0:no-route-in-table', '5:table-missing']),
      );
    }
  });

  it('unevaluated selectors and attributes are listed', () => {
    const r = node([], [rule({ priority: 10, unsupported: ['ipproto tcp', 'dport 80'] })]);
    expect(ask(r, { dst: '203.0.113.5' })).toEqual({
      ...unknown('rule 10 uses selectors the model does not evaluate (ipproto tcp, dport 80)', ['0:no-route-in-table']),
      unevaluatedSelectors: ['ipproto tcp', 'dport 80'],
    });
    // Its other selectors do not match: the rule cannot apply, so it does not matter.
    const other = node([], [rule({ priority: 10, dst: '10.0.0.0/8', unsupported: ['ipproto tcp'] })]);
    expect(ask(other, { dst: '203.0.113.5' })).toMatchObject({
      kind: 'route',
      rule: 32766,
      candidates: [{ dev: 'eth0', gateway: '192.168.121.1' }],
    });
    const rt = node([route({ dst: '198.51.100.0/24', unsupported: ['encap', 'nhid'] })]);
    expect(ask(rt, { dst: '198.51.100.9' })).toEqual(
      unknown('route 198.51.100.0/24 in table main has attributes the model does not evaluate (encap, nhid)'),
    );
  });
});

describe('route model answers: rule selectors and suppressors', () => {
  const POLICY = route({ dst: 'default', table: '100', nexthops: via('192.168.1.254', 'eth1') });
  const viaPolicy = { kind: 'route', rule: 10, table: '100', candidates: [{ dev: 'eth1', gateway: '192.168.1.254' }] };
  const viaMain = { kind: 'route', rule: 32766, table: 'main', candidates: [{ dev: 'eth0', gateway: '192.168.121.1' }] };

  it('iif: a locally generated question comes from lo; a detached iif matches nothing', () => {
    expect(ask(node([POLICY], [rule({ priority: 10, iif: 'eth1', table: '100' })]), { dst: '203.0.113.5' })).toMatchObject(viaMain);
    expect(ask(node([POLICY], [rule({ priority: 10, iif: 'lo', table: '100' })]), { dst: '203.0.113.5' })).toMatchObject(viaPolicy);
    expect(ask(node([POLICY], [rule({ priority: 10, iif: 'lo', iifDetached: true, table: '100' })]), { dst: '203.0.113.5' })).toMatchObject(
      viaMain,
    );
  });

  it('from: a question without a source is compared as 0.0.0.0', () => {
    const m = node([POLICY], [rule({ priority: 10, src: '192.168.1.240/32', table: '100' })]);
    expect(ask(m, { dst: '203.0.113.5' })).toMatchObject(viaMain);
    expect(ask(m, { dst: '203.0.113.5', src: '192.168.1.240' })).toMatchObject(viaPolicy);
  });

  it('suppress_prefixlength suppresses only routes no longer than it', () => {
    const m = node(
      [route({ dst: '203.0.113.0/24', table: '100', nexthops: via('192.168.1.254', 'eth1') })],
      [rule({ priority: 10, table: '100', suppressPrefixlen: 0 })],
    );
    expect(ask(m, { dst: '203.0.113.5' })).toMatchObject({ ...viaPolicy, trace: ['0:no-route-in-table', '10:selected:203.0.113.0/24'] });
  });

  it('suppress_ifgroup: another group, or a device not in the snapshot, is not suppressed', () => {
    const mgmt = rule({ priority: 10, table: '100', suppressIfgroup: 'mgmt' });
    expect(ask(node([POLICY], [mgmt]), { dst: '203.0.113.5' })).toMatchObject(viaPolicy);
    const gone = route({ dst: 'default', table: '100', nexthops: via('192.168.1.254', 'eth9') });
    expect(ask(node([gone], [mgmt]), { dst: '203.0.113.5' })).toMatchObject({
      kind: 'route',
      rule: 10,
      candidates: [{ dev: 'eth9', gateway: '192.168.1.254' }],
    });
  });
});

describe('route model answers: nexthops and candidates', () => {
  it('with an oif the first nexthop on that device (no multipath hash); without, every live one', () => {
    const m = node([
      route({
        dst: '198.51.100.0/24',
        nexthops: [hop('192.168.121.1', 'eth0'), hop('192.168.1.254', 'eth1'), hop('192.168.1.253', 'eth1')],
      }),
    ]);
    expect(ask(m, { dst: '198.51.100.9', oif: 'eth1' })).toMatchObject({
      kind: 'route',
      candidates: [{ dev: 'eth1', gateway: '192.168.1.254' }],
    });
    expect(ask(m, { dst: '198.51.100.9' })).toMatchObject({
      kind: 'route',
      candidates: [
        { dev: 'eth0', gateway: '192.168.121.1' },
        { dev: 'eth1', gateway: '192.168.1.254' },
        { dev: 'eth1', gateway: '192.168.1.253' },
      ],
    });
  });

  it('IPv6 with a source and an oif: the oif does not restrict the multipath candidates', () => {
    const m = node([v6route({ dst: '2001:db8:7::/48', nexthops: [hop('fd00:1::fd', 'eth1'), hop('fd00:1::fc', 'eth0')] })]);
    expect(ask(m, { dst: '2001:db8:7::1', src: 'fd00:1::1', oif: 'eth1' })).toMatchObject({
      kind: 'route',
      candidates: [
        { dev: 'eth1', gateway: 'fd00:1::fd' },
        { dev: 'eth0', gateway: 'fd00:1::fc' },
      ],
    });
  });

  it('IPv6 multipath: a nexthop of weight 0 is no candidate, with or without an oif', () => {
    const m = node([
      v6route({
        dst: '2001:db8:7::/48',
        nexthops: [hop('fd00:1::fd', 'eth1'), hop('fd00:1::fc', 'eth0'), hop('fd00:1::fb', 'eth1', [], 0)],
      }),
    ]);
    const both = {
      kind: 'route',
      candidates: [
        { dev: 'eth1', gateway: 'fd00:1::fd' },
        { dev: 'eth0', gateway: 'fd00:1::fc' },
      ],
    };
    expect(ask(m, { dst: '2001:db8:7::1', src: 'fd00:1::1' })).toMatchObject(both);
    expect(ask(m, { dst: '2001:db8:7::1', src: 'fd00:1::1', oif: 'eth1' })).toMatchObject(both);
  });

  it('a nexthop that names no device: a candidate without one', () => {
    const m = node([route({ dst: '198.51.100.0/24', nexthops: [hop('192.168.1.254', null)] })], [], (s) => (s.sysctls.ipForward = 1));
    expect(ask(m, { dst: '198.51.100.9' })).toMatchObject({ kind: 'route', candidates: [{ dev: '', gateway: '192.168.1.254' }] });
    expect(ask(m, { dst: '198.51.100.9', src: '203.0.113.5', iif: 'eth1' })).toMatchObject({
      kind: 'route',
      candidates: [{ dev: '', gateway: '192.168.1.254' }],
    });
  });

  it('a single-nexthop route flagged dead at the route level is skipped', () => {
    const m = node([route({ dst: '198.51.100.0/24', flags: ['dead'], nexthops: via('192.168.1.254', 'eth1') })]);
    expect(ask(m, { dst: '198.51.100.9' })).toMatchObject({
      route: 'default@main',
      candidates: [{ dev: 'eth0', gateway: '192.168.121.1' }],
    });
  });

  it('the same nexthop twice is one candidate', () => {
    const m = node([route({ dst: '198.51.100.0/24', nexthops: [hop('192.168.1.254', 'eth1'), hop('192.168.1.254', 'eth1', [], 2)] })]);
    expect(ask(m, { dst: '198.51.100.9' })).toMatchObject({ candidates: [{ dev: 'eth1', gateway: '192.168.1.254' }] });
  });

  it('a multipath route flagged dead as a whole is skipped', () => {
    const m = node([
      route({ dst: '198.51.100.0/24', flags: ['dead'], nexthops: [hop('192.168.1.254', 'eth1'), hop('192.168.1.253', 'eth1')] }),
    ]);
    expect(ask(m, { dst: '198.51.100.9' })).toMatchObject({
      route: 'default@main',
      candidates: [{ dev: 'eth0', gateway: '192.168.121.1' }],
    });
  });

  it('IPv6: a dead route is skipped before its linkdown flag is looked at; a multipath route with one linkdown nexthop is declined', () => {
    const dead = node([v6route({ dst: '2001:db8:5::/48', nexthops: [hop('fd00:1::fd', 'eth1', ['dead', 'linkdown'])] })]);
    expect(ask(dead, { dst: '2001:db8:5::1', src: 'fd00:1::1' })).toMatchObject({
      route: 'default@main',
      candidates: [{ dev: 'eth1', gateway: 'fd00:1::fe' }],
    });
    const one = node([v6route({ dst: '2001:db8:5::/48', nexthops: [hop('fd00:1::fd', 'eth1', ['linkdown']), hop('fd00:1::fc', 'eth1')] })]);
    expect(ask(one, { dst: '2001:db8:5::1', src: 'fd00:1::1' })).toEqual(
      unknown('route 2001:db8:5::/48 has a linkdown nexthop (IPv6 ignore_routes_with_linkdown is not read)', ['0:no-route-in-table']),
    );
  });

  // fib_select_default: equal-metric IPv4 default routes with a live gateway are all candidates (per family).
  it('equal-metric default routes: IPv4 and IPv6 each keep to their own', () => {
    const m = node(
      [
        route({ dst: 'default', metric: 1024, nexthops: via('192.168.1.254', 'eth1') }),
        route({ dst: 'default', metric: 1024, nexthops: [hop(null, 'eth1')] }),
        route({ dst: 'default', metric: 1024, nexthops: [hop('192.168.121.9', 'eth0', ['dead'])] }),
        route({ dst: '198.51.100.0/24', metric: 1024, nexthops: via('192.168.121.7', 'eth0') }),
      ],
      [],
      (s) => {
        s.routes.find((r) => r.family === 4 && r.dst === 'default')!.metric = 1024;
        s.routes.push(v6route({ dst: 'default', nexthops: via('fd00:1::fd', 'eth1') }));
      },
    );
    expect(ask(m, { dst: '203.0.113.5' })).toMatchObject({
      kind: 'route',
      candidates: [
        { dev: 'eth0', gateway: '192.168.121.1' },
        { dev: 'eth1', gateway: '192.168.1.254' },
      ],
    });
    // Not a default route: no fib_select_default.
    expect(ask(m, { dst: '198.51.100.9' })).toMatchObject({ kind: 'route', candidates: [{ dev: 'eth0', gateway: '192.168.121.7' }] });
    expect(ask(m, { dst: '2001:db8::5', src: 'fd00:1::1' })).toMatchObject({
      kind: 'route',
      candidates: [
        { dev: 'eth1', gateway: 'fd00:1::fe' },
        { dev: 'eth1', gateway: 'fd00:1::fd' },
      ],
    });
  });

  it('equal-metric IPv4 default routes do not make IPv6 candidates', () => {
    const m = node([
      route({ dst: 'default', metric: 1024, nexthops: via('192.168.121.5', 'eth0') }),
      route({ dst: 'default', metric: 1024, nexthops: via('192.168.1.254', 'eth1') }),
    ]);
    expect(ask(m, { dst: '2001:db8::5', src: 'fd00:1::1' })).toMatchObject({
      kind: 'route',
      candidates: [{ dev: 'eth1', gateway: 'fd00:1::fe' }],
    });
  });

  it('two equal-metric IPv4 default routes are both candidates', () => {
    const m = node([route({ dst: 'default', nexthops: via('192.168.1.254', 'eth1') })]);
    expect(ask(m, { dst: '203.0.113.5' })).toMatchObject({
      candidates: [
        { dev: 'eth0', gateway: '192.168.121.1' },
        { dev: 'eth1', gateway: '192.168.1.254' },
      ],
    });
  });

  // rt6_select compares routes of the same prefix and metric only.
  it('IPv6 router choice: only routes of the same prefix, length and metric are peers', () => {
    const m = node([
      v6route({ dst: '2001:db8:7::/48', nexthops: via('fd00:1::fd', 'eth1') }),
      v6route({ dst: '2001:db8:8::/48', nexthops: via('fd00:1::fc', 'eth1') }),
      v6route({ dst: '2001:db8:7::/64', nexthops: via('fd00:1::fb', 'eth1') }),
      v6route({ dst: '2001:db8:7::/48', metric: 2048, nexthops: via('fd00:1::fa', 'eth1') }),
    ]);
    expect(ask(m, { dst: '2001:db8:7:1::1', src: 'fd00:1::1' })).toMatchObject({
      kind: 'route',
      candidates: [{ dev: 'eth1', gateway: 'fd00:1::fd' }],
    });
  });

  it('IPv6 router choice: a FAILED or INCOMPLETE neighbour entry of the router itself declines', () => {
    const neigh =
      (dst: string, dev: string, state: string[], family: 4 | 6 = 6) =>
      (s: HostSnapshot) =>
        s.neighbours.push({ family, dst, dev, lladdr: null, state });
    const q = { dst: '2001:db8::5', src: 'fd00:1::1' };
    const answered = { kind: 'route', candidates: [{ dev: 'eth1', gateway: 'fd00:1::fe' }] };
    // Another address, or the router's address on another device: not the router.
    expect(ask(node([], [], neigh('fd00:1::fd', 'eth1', ['FAILED'])), q)).toMatchObject(answered);
    expect(ask(node([], [], neigh('fd00:1::fe', 'eth0', ['FAILED'])), q)).toMatchObject(answered);
    expect(ask(node([], [], neigh('fd00:1::fe', 'eth1', ['INCOMPLETE', 'PROBE'])), q)).toEqual(
      unknown("IPv6 router fd00:1::fe is INCOMPLETE,PROBE: the kernel's router reachability choice (rt6_select) is not modelled", [
        '0:no-route-in-table',
        '32766:selected:default',
      ]),
    );
  });
});

describe('route model answers: input', () => {
  const q = { dst: '192.168.1.240', src: '203.0.113.5', iif: 'eth1' };
  const fwd = { dst: '198.51.100.7', src: '203.0.113.5', iif: 'eth1' };
  const local = {
    kind: 'route',
    type: 'local',
    candidates: [{ dev: 'lo', gateway: null }],
    route: '192.168.1.240@local',
    rule: 0,
    table: 'local',
    trace: ['0:selected:192.168.1.240'],
  };

  it('martian loopback addresses', () => {
    expect(ask(node(), { dst: '127.0.0.1', src: '203.0.113.5', iif: 'eth1' })).toEqual({
      kind: 'error',
      errno: 'EINVAL',
      reason: 'martian-source',
      rule: null,
      route: null,
      trace: [],
      note: 'loopback addresses on a non-loopback interface are martian',
    });
  });

  it('a rule the model does not evaluate', () => {
    const m = node([], [rule({ priority: 10, unsupported: ['ipproto tcp'] })], (s) => (s.sysctls.ipForward = 1));
    expect(ask(m, fwd)).toEqual({
      ...unknown('rule 10 uses selectors the model does not evaluate (ipproto tcp)', ['0:no-route-in-table']),
      unevaluatedSelectors: ['ipproto tcp'],
    });
  });

  it('an error: forwarding unknown, off (EHOSTUNREACH) or on (the route error), the route named', () => {
    const rules = [rule({ priority: 10, iif: 'eth1', action: 'unreachable', table: null })];
    expect(
      ask(
        node([], rules, (s) => (s.sysctls.ipForward = null)),
        fwd,
      ),
    ).toEqual(unknown('whether eth1 forwards is not in the snapshot', ['0:no-route-in-table', '10:error']));
    const prohibit = [route({ dst: '198.51.100.0/24', type: 'prohibit', nexthops: [] })];
    const trace = ['0:no-route-in-table', '32766:error:198.51.100.0/24'];
    expect(ask(node(prohibit), fwd)).toEqual({
      kind: 'error',
      errno: 'EHOSTUNREACH',
      reason: 'no-forwarding',
      rule: 32766,
      route: '198.51.100.0/24@main',
      trace,
      note: 'forwarding is off on eth1',
    });
    expect(
      ask(
        node(prohibit, [], (s) => (s.sysctls.ipForward = 1)),
        fwd,
      ),
    ).toEqual({
      kind: 'error',
      errno: 'EACCES',
      reason: 'prohibit-route',
      rule: 32766,
      route: '198.51.100.0/24@main',
      trace,
    });
  });

  it('IPv6 input: an error, or a route that is not local, is declined', () => {
    const v6q = { dst: '2001:db8::7', src: '2001:db8:9::5', iif: 'eth1' };
    expect(ask(node(), v6q)).toEqual(
      unknown('IPv6 forwarding lookups are not modelled', ['0:no-route-in-table', '32766:selected:default']),
    );
    const refused = node([], [], (s) => s.rules.unshift(v6rule({ priority: 0, iif: 'eth1', action: 'unreachable', table: null })));
    expect(ask(refused, v6q)).toEqual(unknown('IPv6 input lookups without a local route are not modelled', ['0:error']));
  });

  it('a forwarded packet when forwarding is not in the snapshot', () => {
    expect(
      ask(
        node([], [], (s) => (s.sysctls.ipForward = null)),
        fwd,
      ),
    ).toEqual(unknown('whether eth1 forwards is not in the snapshot', ['0:no-route-in-table', '32766:selected:default']));
  });

  it('a forwarded packet over a single nexthop: its weight is not read', () => {
    const m = node(
      [route({ dst: '198.51.100.0/24', nexthops: [hop('192.168.121.7', 'eth0', [], 0)] })],
      [],
      (s) => (s.sysctls.ipForward = 1),
    );
    expect(ask(m, fwd)).toMatchObject({ kind: 'route', candidates: [{ dev: 'eth0', gateway: '192.168.121.7' }] });
  });

  it('rp_filter=0 and a multipath route with one nexthop back out of the ingress device: the reverse lookup runs', () => {
    const m = node(
      [
        route({ dst: '198.51.100.0/24', nexthops: [hop('192.168.121.1', 'eth0'), hop('192.168.1.254', 'eth1')] }),
        route({ dst: '203.0.113.255', table: 'local', type: 'broadcast', nexthops: [hop(null, 'eth1')] }),
      ],
      [],
      (s) => (s.sysctls.ipForward = 1),
    );
    expect(ask(m, { ...fwd, src: '203.0.113.255' })).toMatchObject({
      kind: 'unknown',
      reason: 'rp_filter=0 with a non-unicast reverse route depends on whether custom rules were ever added',
    });
  });

  it('rp_filter=0 and a reverse route picked by the local/main trie that is not unicast: declined', () => {
    // The walk would stop at the AnyIP range in table local; the trie picks main's more specific broadcast route.
    const m = node([
      route({ dst: '10.20.0.0/24', table: 'local', type: 'local', nexthops: [hop(null, 'eth0')] }),
      route({ dst: '10.20.0.240', type: 'broadcast', nexthops: [hop(null, 'eth0')] }),
    ]);
    expect(ask(m, { ...q, src: '10.20.0.240' })).toMatchObject({
      kind: 'unknown',
      reason: 'rp_filter=0 with a non-unicast reverse route depends on whether custom rules were ever added',
    });
  });

  it('rp_filter is IPv4 only: an IPv6 local delivery is not checked', () => {
    const m = node([], [], (s) => (s.sysctls.rpFilter = { all: 1 }));
    expect(ask(m, { dst: 'fd00:1::1', src: '2001:db8::5', iif: 'eth1' })).toMatchObject({
      kind: 'route',
      type: 'local',
      route: 'fd00:1::1@local',
    });
  });

  it('an input lookup ending in a broadcast route is declined', () => {
    const m = node(
      [route({ dst: '192.168.1.255', table: 'local', type: 'broadcast', nexthops: [hop(null, 'eth1')] })],
      [],
      (s) => (s.sysctls.ipForward = 1),
    );
    expect(ask(m, { dst: '192.168.1.255', src: '203.0.113.5', iif: 'eth1' })).toEqual(
      unknown('input lookups that end in a broadcast route are not modelled', ['0:selected:192.168.1.255']),
    );
  });

  it('a forwarded packet over a multipath route: live nexthops of non-zero weight', () => {
    const m = node(
      [
        route({
          dst: '198.51.100.0/24',
          nexthops: [
            hop('192.168.121.1', 'eth0'),
            hop('192.168.121.2', 'eth0', [], 0),
            hop('192.168.121.3', 'eth0', ['dead']),
            hop('192.168.121.4', 'eth0'),
          ],
        }),
      ],
      [],
      (s) => (s.sysctls.ipForward = 1),
    );
    expect(ask(m, fwd)).toEqual({
      kind: 'route',
      type: 'unicast',
      candidates: [
        { dev: 'eth0', gateway: '192.168.121.1' },
        { dev: 'eth0', gateway: '192.168.121.4' },
      ],
      route: '198.51.100.0/24@main',
      rule: 32766,
      table: 'main',
      trace: ['0:no-route-in-table', '32766:selected:198.51.100.0/24'],
      note: 'forwarded: received on eth1',
    });
  });

  // fib_validate_source: with rp_filter 0 and the packet leaving by another device the reverse lookup is skipped.
  it('rp_filter=0: the reverse lookup only when the packet leaves by its ingress device', () => {
    const back = route({ dst: '203.0.113.255', table: 'local', type: 'broadcast', nexthops: [hop(null, 'eth1')] });
    const m = node([back], [], (s) => (s.sysctls.ipForward = 1));
    expect(ask(m, { dst: '198.51.100.7', src: '203.0.113.255', iif: 'eth1' })).toMatchObject({
      kind: 'route',
      candidates: [{ dev: 'eth0', gateway: '192.168.121.1' }],
    });
    expect(ask(m, { dst: '192.168.1.77', src: '203.0.113.255', iif: 'eth1' })).toEqual(
      unknown('rp_filter=0 with a non-unicast reverse route depends on whether custom rules were ever added', [
        '0:no-route-in-table',
        '32766:selected:192.168.1.0/24',
      ]),
    );
    // With a unicast reverse route the hairpin is forwarded.
    expect(ask(m, { dst: '192.168.1.77', src: '203.0.113.5', iif: 'eth1' })).toMatchObject({
      kind: 'route',
      candidates: [{ dev: 'eth1', gateway: null }],
    });
  });

  it('rp_filter=1 on a forwarded packet: rejected when the reverse path leaves elsewhere; declined when it cannot be evaluated', () => {
    const strict = (rules: Rule[] = []) => node([], rules, (s) => ((s.sysctls.ipForward = 1), (s.sysctls.rpFilter = { all: 1 })));
    expect(ask(strict(), fwd)).toEqual({
      kind: 'error',
      errno: 'EINVAL',
      reason: 'rp-filter',
      rule: 32766,
      route: 'default@main',
      trace: ['0:no-route-in-table', '32766:selected:default'],
      note: 'rp_filter=1 (strict) on eth1 and the reverse path to 203.0.113.5 leaves via eth0',
    });
    const odd = strict([rule({ priority: 10, dst: '203.0.113.0/24', unsupported: ['ipproto tcp'] })]);
    expect(ask(odd, fwd)).toEqual({
      ...unknown('reverse-path lookup: rule 10 uses selectors the model does not evaluate (ipproto tcp)', [
        '0:no-route-in-table',
        '10:no-match',
        '32766:selected:default',
      ]),
      unevaluatedSelectors: ['ipproto tcp'],
    });
  });

  it('the reverse lookup runs as from lo, with the mark when src_valid_mark is set for all', () => {
    const policy = route({ dst: 'default', table: '100', nexthops: via('192.168.1.254', 'eth1') });
    const iifLo = node([policy], [rule({ priority: 10, iif: 'lo', table: '100' })], (s) => (s.sysctls.rpFilter = { all: 1 }));
    expect(ask(iifLo, q)).toEqual(local);
    const marked = (svm: Record<string, number>) =>
      node(
        [policy],
        [rule({ priority: 10, fwmark: 1, table: '100' })],
        (s) => ((s.sysctls.rpFilter = { all: 1 }), (s.sysctls.srcValidMark = svm)),
      );
    expect(ask(marked({ all: 1 }), { ...q, mark: 1 })).toEqual(local);
    expect(ask(marked({}), { ...q, mark: 1 })).toMatchObject({ kind: 'error', reason: 'rp-filter' });
  });

  it('rp_filter=0 accepts when the reverse lookup fails; rp_filter=1 rejects a non-unicast reverse route', () => {
    const noBack = node([], [rule({ priority: 10, action: 'unreachable', table: null, src: '192.168.1.240/32' })]);
    expect(ask(noBack, q)).toEqual(local);
    const bcast = node(
      [route({ dst: '203.0.113.255', table: 'local', type: 'broadcast', nexthops: [hop(null, 'eth1')] })],
      [],
      (s) => (s.sysctls.rpFilter = { all: 1 }),
    );
    expect(ask(bcast, { ...q, src: '203.0.113.255' })).toEqual({
      kind: 'error',
      errno: 'EINVAL',
      reason: 'rp-filter',
      rule: 0,
      route: '192.168.1.240@local',
      trace: ['0:selected:192.168.1.240'],
      note: 'the reverse path to 203.0.113.255 is a broadcast route',
    });
  });

  // __fib_validate_source: an ingress device without an IPv4 address fails any rp_filter unless a nexthop uses it.
  it('an ingress device without an IPv4 address (the VIP on lo): rejected even by loose rp_filter', () => {
    const m = node([], [], (s) => {
      s.sysctls.rpFilter = { all: 2 };
      s.addrs = s.addrs.filter((a) => !(a.family === 4 && a.ifname === 'eth1'));
      s.addrs.push({
        ifindex: 1,
        ifname: 'lo',
        family: 4,
        local: '192.168.1.240',
        prefixlen: 32,
        scope: 'global',
        secondary: false,
        label: null,
      });
    });
    expect(ask(m, q)).toMatchObject({ kind: 'error', reason: 'rp-filter', note: 'eth1 has no IPv4 address and rp_filter=2' });
  });

  it('strict rp_filter names every device of the reverse route, or says another interface', () => {
    const two = node(
      [route({ dst: '203.0.113.0/24', nexthops: [hop('192.168.121.1', 'eth0'), hop('192.168.121.2', 'eth0')] })],
      [],
      (s) => (s.sysctls.rpFilter = { all: 1 }),
    );
    expect(ask(two, q)).toMatchObject({ note: 'rp_filter=1 (strict) on eth1 and the reverse path to 203.0.113.5 leaves via eth0, eth0' });
    const none = node(
      [route({ dst: '203.0.113.0/24', nexthops: [hop('192.168.121.1', null)] })],
      [],
      (s) => (s.sysctls.rpFilter = { all: 1 }),
    );
    expect(ask(none, q)).toMatchObject({
      note: 'rp_filter=1 (strict) on eth1 and the reverse path to 203.0.113.5 leaves via another interface',
    });
  });
});

describe('route model: snapshot details', () => {
  it('routes and addresses that do not parse are left out', () => {
    const m = node([route({ dst: 'garbage' })], [], (s) =>
      s.addrs.push({ ifindex: 2, ifname: 'eth0', family: 4, local: 'x', prefixlen: 24, scope: 'global', secondary: false, label: null }),
    );
    expect(ask(m, { dst: '203.0.113.5', src: '192.168.1.240' })).toMatchObject({
      kind: 'route',
      candidates: [{ dev: 'eth0', gateway: '192.168.121.1' }],
    });
  });

  it('an address that does not parse is no local address', () => {
    const m = node([], [], (s) =>
      s.addrs.push({ ifindex: 2, ifname: 'eth0', family: 4, local: 'x', prefixlen: 24, scope: 'global', secondary: false, label: null }),
    );
    expect(ask(m, { dst: '203.0.113.5', src: '10.9.9.9' })).toMatchObject({ kind: 'error', reason: 'source-not-local' });
  });

  it('rules are taken in priority order whatever the snapshot order', () => {
    const m = node([], [], (s) =>
      s.rules.unshift(rule({ priority: 200, action: 'prohibit', table: null }), rule({ priority: 100, action: 'blackhole', table: null })),
    );
    expect(ask(m, { dst: '203.0.113.5' })).toMatchObject({ kind: 'error', reason: 'blackhole-rule', rule: 100 });
  });

  it('routes of equal prefix and metric in one table: the first listed answers', () => {
    const m = node([
      route({ dst: '198.51.100.0/24', nexthops: via('192.168.1.254', 'eth1') }),
      route({ dst: '198.51.100.0/24', nexthops: via('192.168.121.1', 'eth0') }),
    ]);
    expect(ask(m, { dst: '198.51.100.9' })).toMatchObject({ candidates: [{ dev: 'eth1', gateway: '192.168.1.254' }] });
  });
});

describe('route model: rules and routes as ip prints them', () => {
  it('rules', () => {
    expect(
      describeRule(
        rule({
          priority: 100,
          src: '192.168.1.240/32',
          dst: '203.0.113.0/24',
          fwmark: 0x10,
          iif: 'eth1',
          oif: 'eth0',
          table: '100',
          suppressPrefixlen: 0,
        }),
      ),
    ).toBe('100: from 192.168.1.240/32 to 203.0.113.0/24 fwmark 0x10 iif eth1 oif eth0 lookup 100 suppress_prefixlength 0');
    expect(describeRule(rule({ priority: 10, action: 'prohibit', table: null }))).toBe('10: from all prohibit');
    expect(describeRule(rule({ priority: 11, table: null }))).toBe('11: from all lookup ?');
    expect(describeRule(rule({ priority: 12, not: true, fwmark: 0x1, fwmask: 0xff, action: 'goto', table: null, goto: 20 }))).toBe(
      '12: not from all fwmark 0x1/0xff goto 20',
    );
  });

  it('routes', () => {
    const r = route({ dst: '203.0.113.0/24', metric: 100, nexthops: via('192.168.1.254', 'eth1') });
    expect(describeRoute(r)).toBe('203.0.113.0/24 via 192.168.1.254 dev eth1 metric 100');
    expect(describeRoute(r, { metric: false })).toBe('203.0.113.0/24 via 192.168.1.254 dev eth1');
    expect(describeRoute(route({ dst: '203.0.113.0/24', type: 'unreachable', table: '100', nexthops: [] }))).toBe(
      'unreachable 203.0.113.0/24 table 100',
    );
    expect(describeRoute(route({ dst: '192.168.1.0/24', nexthops: [hop(null, 'eth1')] }))).toBe('192.168.1.0/24 dev eth1');
    expect(describeRoute(route({ dst: '192.168.1.0/24', nexthops: [hop('192.168.1.254', null)] }))).toBe(
      '192.168.1.0/24 via 192.168.1.254',
    );
    const multi = route({
      dst: 'default',
      nexthops: [hop('192.168.1.254', 'eth1'), hop('192.168.121.1', 'eth0', [], 2), hop(null, 'eth1'), hop('10.0.0.1', null)],
    });
    expect(describeRoute(multi)).toBe(
      'default nexthop via 192.168.1.254 dev eth1 weight 1 nexthop via 192.168.121.1 dev eth0 weight 2 nexthop dev eth1 weight 1 nexthop via 10.0.0.1 weight 1',
    );
  });
});
