// The route model's refusals and less common paths on hand-written snapshots, each answer checked in full (kind,
// errno and reason, candidates, deciding rule, trace), so a changed condition or reason shows.

import { describe, expect, it } from 'vitest';
import { RouteModel, type ModelAnswer } from '../../agent/analysis/route-model.js';
import type { RouteQuestion } from '../../agent/model/route-question.js';
import type { HostSnapshot, Route, Rule } from '../../agent/model/host-state.js';
import { dualStack, route, rule, v6route, v6rule, via } from '../helpers/snapshot.js';

const brief = (a: ModelAnswer) =>
  a.kind === 'route'
    ? `${a.type} ${a.candidates.map((c) => `${c.dev}${c.gateway ? ` via ${c.gateway}` : ''}`).join('|')} [${a.rule ? a.rule.priority : '-'}] ${a.route ? `${a.route.dst}@${a.route.table}` : '-'}`
    : a.kind === 'error'
      ? `${a.errno} ${a.reason} [${a.rule ? a.rule.priority : '-'}]`
      : `unknown: ${a.reason}`;
const steps = (a: ModelAnswer) => a.trace.map((t) => `${t.rule.priority}:${t.outcome}`).join(' ');

/** The incident node, with IPv6 on eth1. */
const dual = (routes: Route[] = [], rules: Rule[] = [], edit: (s: HostSnapshot) => void = () => undefined) =>
  new RouteModel(dualStack(routes, rules, edit));

describe('route model: refusals', () => {
  it.each<[string, RouteQuestion, string]>([
    ['destination not an address', { dst: 'example' }, 'unknown: destination "example" is not an IP address'],
    ['source of the other family', { dst: '203.0.113.5', src: 'fd00:1::1' }, 'unknown: source "fd00:1::1" is not an IPv4 address'],
    ['source not an address', { dst: '203.0.113.5', src: 'x' }, 'unknown: source "x" is not an IPv4 address'],
    [
      'unknown input interface',
      { dst: '192.168.1.240', src: '203.0.113.5', iif: 'eth9' },
      'unknown: no interface named eth9 in the snapshot',
    ],
    ['unknown output interface', { dst: '203.0.113.5', oif: 'eth9' }, 'unknown: no interface named eth9 in the snapshot'],
    ['multicast destination', { dst: '224.0.0.5' }, 'unknown: multicast, broadcast and unspecified addresses are not modelled'],
    [
      'unspecified source',
      { dst: '203.0.113.5', src: '0.0.0.0' },
      'unknown: multicast, broadcast and unspecified addresses are not modelled',
    ],
    [
      'multicast source',
      { dst: '203.0.113.5', src: '239.1.1.1' },
      'unknown: multicast, broadcast and unspecified addresses are not modelled',
    ],
    [
      'IPv6 oif without a source',
      { dst: '2001:db8::5', oif: 'eth1' },
      'unknown: IPv6 lookups with an output interface and no source address are not modelled',
    ],
    ['loopback source', { dst: '203.0.113.5', src: '127.0.0.1' }, 'unknown: loopback sources are not modelled'],
    ['input without a source', { dst: '192.168.1.240', iif: 'eth1' }, 'unknown: input lookups need a source address'],
    [
      'input with an oif',
      { dst: '192.168.1.240', src: '203.0.113.5', iif: 'eth1', oif: 'eth0' },
      'unknown: input lookups with an output interface are not modelled',
    ],
    [
      'input from a local address',
      { dst: '192.168.1.240', src: '192.168.1.10', iif: 'eth1' },
      'unknown: input lookups whose source is a local address depend on accept_local, which is not modelled',
    ],
  ])('%s', (_n, q, expected) => {
    expect(brief(dual().lookup(q))).toBe(expected);
  });

  it('IPv6 rules with a source selector, asked without a source', () => {
    const m = dual([], [v6rule({ priority: 100, src: 'fd00:9::/64', table: '100' })]);
    expect(brief(m.lookup({ dst: '2001:db8::5' }))).toBe(
      'unknown: IPv6 rules with a source selector and a question without a source are not modelled',
    );
    expect(brief(m.lookup({ dst: '2001:db8::5', src: 'fd00:1::1' }))).toBe('unicast eth1 via fd00:1::fe [32766] default@main');
  });

  it('default rules deleted', () => {
    const m = dual([], [], (s) => (s.rules = s.rules.filter((r) => !(r.family === 4 && r.priority === 32767))));
    expect(brief(m.lookup({ dst: '203.0.113.5' }))).toBe(
      'unknown: IPv4 default rules were deleted: whether the kernel honours the rule list depends on whether a custom rule was ever added',
    );
    expect(brief(m.lookup({ dst: '2001:db8::5', src: 'fd00:1::1' }))).toBe('unicast eth1 via fd00:1::fe [32766] default@main');
  });

  it('routes with attributes it does not evaluate, and broadcast routes', () => {
    const m = dual(
      [route({ dst: '198.51.100.0/24', unsupported: ['nhid'] }), route({ dst: '192.168.1.255', table: 'local', type: 'broadcast' })],
      [rule({ priority: 50, table: 'main' })],
    );
    expect(brief(m.lookup({ dst: '198.51.100.9' }))).toBe(
      'unknown: route 198.51.100.0/24 in table main has attributes the model does not evaluate (nhid)',
    );
    expect(brief(m.lookup({ dst: '192.168.1.255' }))).toBe('unknown: broadcast routes are not modelled for output lookups');
  });
});

describe('route model: output paths', () => {
  it('local destinations, down interfaces, IPv6 with an oif and a source', () => {
    const m = dual([], [], (s) => (s.links.find((l) => l.name === 'eth0')!.flags = []));
    expect(brief(m.lookup({ dst: '192.168.1.240' }))).toBe('local lo [0] 192.168.1.240@local');
    expect(brief(m.lookup({ dst: '203.0.113.5', oif: 'eth0' }))).toBe('ENETUNREACH no-route [-]');
    expect(brief(m.lookup({ dst: '203.0.113.5', oif: 'eth1' }))).toBe('unicast eth1 [-] -');
    expect(brief(m.lookup({ dst: '2001:db8::5', src: 'fd00:1::1', oif: 'eth0' }))).toBe('unicast eth1 via fd00:1::fe [32766] default@main');
    expect(brief(m.lookup({ dst: 'fd00:1::1' }))).toBe('local lo [0] fd00:1::1@local');
  });

  it('nop, fwmask-only and oif rules, with their trace', () => {
    const m = dual(
      [route({ dst: 'default', table: '100', nexthops: via('192.168.1.254', 'eth1') })],
      [
        rule({ priority: 10, action: 'nop', table: null }),
        rule({ priority: 20, fwmask: 0xf0, table: '100' }),
        rule({ priority: 30, oif: 'eth1', action: 'prohibit', table: null }),
      ],
    );
    const a = m.lookup({ dst: '203.0.113.5', mark: 0x01 });
    expect(brief(a)).toBe('unicast eth1 via 192.168.1.254 [20] default@100');
    expect(steps(a)).toBe('0:no-route-in-table 10:nop 20:selected');
    const b = m.lookup({ dst: '203.0.113.5', mark: 0x10 });
    expect(brief(b)).toBe('unicast eth0 via 192.168.121.1 [32766] default@main');
    expect(steps(b)).toBe('0:no-route-in-table 10:nop 20:no-match 30:no-match 32766:selected');
    // With an oif, a lookup that fails (here at the prohibit rule) is "assumed on-link" by the kernel.
    expect(brief(m.lookup({ dst: '203.0.113.5', mark: 0x10, oif: 'eth1' }))).toBe('unicast eth1 [30] -');
    expect(brief(m.lookup({ dst: '203.0.113.5', mark: 0x10, oif: 'eth0' }))).toBe('unicast eth0 via 192.168.121.1 [32766] default@main');
  });

  it('a source selector against a question without a source compares 0.0.0.0', () => {
    const m = dual(
      [route({ dst: 'default', table: '100', nexthops: via('192.168.1.254', 'eth1') })],
      [rule({ priority: 10, src: '0.0.0.0/1', table: '100' })],
    );
    expect(brief(m.lookup({ dst: '203.0.113.5' }))).toBe('unicast eth1 via 192.168.1.254 [10] default@100');
    expect(brief(m.lookup({ dst: '203.0.113.5', src: '192.168.1.240' }))).toBe('unicast eth0 via 192.168.121.1 [32766] default@main');
  });

  it('suppress_ifgroup skips a route through an interface of that group', () => {
    const m = dual(
      [],
      [rule({ priority: 10, suppressIfgroup: 'mgmt' }), rule({ priority: 20, action: 'blackhole', table: null })],
      (s) => (s.links.find((l) => l.name === 'eth0')!.group = 'mgmt'),
    );
    const a = m.lookup({ dst: '203.0.113.5' });
    expect(brief(a)).toBe('EINVAL blackhole-rule [20]');
    expect(steps(a)).toBe('0:no-route-in-table 10:suppressed 20:error');
  });

  it('linkdown nexthops: used unless ignore_routes_with_linkdown, IPv6 declined', () => {
    const down = [route({ dst: '198.51.100.0/24', nexthops: [{ gateway: '192.168.1.254', dev: 'eth1', weight: 1, flags: ['linkdown'] }] })];
    expect(brief(dual(down).lookup({ dst: '198.51.100.9' }))).toBe('unicast eth1 via 192.168.1.254 [32766] 198.51.100.0/24@main');
    expect(brief(dual(down, [], (s) => (s.sysctls.ignoreRoutesWithLinkdown = { eth1: 1 })).lookup({ dst: '198.51.100.9' }))).toBe(
      'unicast eth0 via 192.168.121.1 [32766] default@main',
    );
    expect(brief(dual(down, [], (s) => (s.sysctls.ignoreRoutesWithLinkdown = { all: 1 })).lookup({ dst: '198.51.100.9' }))).toBe(
      'unicast eth0 via 192.168.121.1 [32766] default@main',
    );
    const v6down = [
      v6route({ dst: '2001:db8:5::/48', nexthops: [{ gateway: 'fd00:1::fd', dev: 'eth1', weight: 1, flags: ['linkdown'] }] }),
    ];
    expect(brief(dual(v6down).lookup({ dst: '2001:db8:5::1', src: 'fd00:1::1' }))).toBe(
      'unknown: route 2001:db8:5::/48 has a linkdown nexthop (IPv6 ignore_routes_with_linkdown is not read)',
    );
  });

  it('dead nexthops and zero weights are no candidates', () => {
    const m = dual([
      route({
        dst: '198.51.100.0/24',
        nexthops: [
          { gateway: '192.168.1.254', dev: 'eth1', weight: 1, flags: [] },
          { gateway: '192.168.121.1', dev: 'eth0', weight: 0, flags: [] },
          { gateway: '192.168.1.253', dev: 'eth1', weight: 1, flags: ['dead'] },
        ],
      }),
      route({ dst: '198.51.100.128/25', nexthops: [{ gateway: '192.168.1.253', dev: 'eth1', weight: 1, flags: ['dead'] }] }),
    ]);
    expect(brief(m.lookup({ dst: '198.51.100.200' }))).toBe('unicast eth1 via 192.168.1.254 [32766] 198.51.100.0/24@main');
  });

  it('IPv6: an unreachable candidate router is declined; equal-metric routes all count', () => {
    const failed = dual([], [], (s) => s.neighbours.push({ family: 6, dst: 'fd00:1::fe', dev: 'eth1', lladdr: null, state: ['FAILED'] }));
    expect(brief(failed.lookup({ dst: '2001:db8::5', src: 'fd00:1::1' }))).toBe(
      "unknown: IPv6 router fd00:1::fe is FAILED: the kernel's router reachability choice (rt6_select) is not modelled",
    );
    const reachable = dual([], [], (s) =>
      s.neighbours.push({ family: 6, dst: 'fd00:1::fe', dev: 'eth1', lladdr: null, state: ['REACHABLE'] }),
    );
    expect(brief(reachable.lookup({ dst: '2001:db8::5', src: 'fd00:1::1' }))).toBe('unicast eth1 via fd00:1::fe [32766] default@main');
    const two = dual([
      v6route({ dst: '2001:db8:7::/48', nexthops: via('fd00:1::fd', 'eth1') }),
      v6route({ dst: '2001:db8:7::/48', nexthops: via('fd00:1::fc', 'eth1') }),
    ]);
    expect(brief(two.lookup({ dst: '2001:db8:7::1', src: 'fd00:1::1' }))).toBe(
      'unicast eth1 via fd00:1::fd|eth1 via fd00:1::fc [32766] 2001:db8:7::/48@main',
    );
  });

  it('local and main in one trie: the answer is the rule-by-rule one where both views agree', () => {
    const m = dual([route({ dst: '192.168.1.240', metric: 0, nexthops: via('192.168.1.254', 'eth1') })]);
    expect(brief(m.lookup({ dst: '192.168.1.240' }))).toBe('local lo [0] 192.168.1.240@local');
    const custom = dual(
      [route({ dst: '192.168.1.240', metric: 0, nexthops: via('192.168.1.254', 'eth1') })],
      [rule({ priority: 100, table: '100' })],
    );
    expect(brief(custom.lookup({ dst: '192.168.1.240' }))).toBe('local lo [0] 192.168.1.240@local');
  });
});

describe('route model: input paths', () => {
  it('martian loopback addresses, and a local delivery of IPv6', () => {
    expect(brief(dual().lookup({ dst: '127.0.0.1', src: '203.0.113.5', iif: 'eth1' }))).toBe('EINVAL martian-source [-]');
    expect(brief(dual().lookup({ dst: '192.168.1.240', src: '127.0.0.2', iif: 'eth1' }))).toBe('EINVAL martian-source [-]');
    expect(brief(dual().lookup({ dst: 'fd00:1::1', src: '2001:db8::5', iif: 'eth1' }))).toBe('local lo [0] fd00:1::1@local');
  });

  it('an input lookup ending in an error: forwarding decides the errno (IPv4); IPv6 is declined', () => {
    // Rules of equal priority keep their list order: these come before the local rule.
    const rules = (s: HostSnapshot) =>
      s.rules.unshift(
        rule({ priority: 0, action: 'unreachable', table: null, iif: 'eth1' }),
        v6rule({ priority: 0, action: 'unreachable', table: null, iif: 'eth1' }),
      );
    // Measured with ip route get ... iif: forwarding off on the ingress turns every error into EHOSTUNREACH.
    const off = dual([], [], rules);
    expect(brief(off.lookup({ dst: '192.168.1.240', src: '203.0.113.5', iif: 'eth1' }))).toBe('EHOSTUNREACH no-forwarding [0]');
    const on = dual([], [], (s) => (rules(s), (s.sysctls.ipForward = 1)));
    expect(brief(on.lookup({ dst: '192.168.1.240', src: '203.0.113.5', iif: 'eth1' }))).toBe('ENETUNREACH unreachable-rule [0]');
    expect(brief(off.lookup({ dst: 'fd00:1::1', src: '2001:db8::5', iif: 'eth1' }))).toBe(
      'unknown: IPv6 input lookups without a local route are not modelled',
    );
  });

  it('a forwarded packet: per-device forwarding, the main route, and IPv6 declined', () => {
    const q = { dst: '198.51.100.7', src: '203.0.113.5', iif: 'eth1' };
    expect(brief(dual().lookup(q))).toBe('EHOSTUNREACH no-forwarding [32766]');
    expect(brief(dual([], [], (s) => (s.sysctls.ipForward = 1)).lookup(q))).toBe('unicast eth0 via 192.168.121.1 [32766] default@main');
    // The device's own switch wins over the global one, both ways.
    expect(brief(dual([], [], (s) => ((s.sysctls.ipForward = 1), (s.sysctls.forwarding = { eth1: 0 }))).lookup(q))).toBe(
      'EHOSTUNREACH no-forwarding [32766]',
    );
    expect(brief(dual([], [], (s) => (s.sysctls.forwarding = { eth1: 1 })).lookup(q))).toBe(
      'unicast eth0 via 192.168.121.1 [32766] default@main',
    );
    expect(brief(dual([], [], (s) => (s.sysctls.ipForward = null)).lookup(q))).toBe(
      'unknown: whether eth1 forwards is not in the snapshot',
    );
    expect(brief(dual().lookup({ dst: '2001:db8::7', src: '2001:db8:9::5', iif: 'eth1' }))).toBe(
      'unknown: IPv6 forwarding lookups are not modelled',
    );
  });

  // The kernel accepts the request when any nexthop of the reverse route uses the ingress device, a dead or linkdown
  // one included (fib_info_nh_uses_dev reads no flags); the route-model differential found the model rejecting it.
  it('rp_filter: a dead linkdown nexthop of a multipath reverse route still matches the ingress device', () => {
    const back = route({
      dst: '203.0.113.0/24',
      nexthops: [
        { gateway: '192.168.1.254', dev: 'eth1', weight: 1, flags: ['dead', 'linkdown'] },
        { gateway: '192.168.121.1', dev: 'eth0', weight: 1, flags: [] },
      ],
    });
    const strict = dual([back], [], (s) => ((s.sysctls.rpFilter = { all: 1 }), (s.sysctls.ignoreRoutesWithLinkdown = { eth1: 1 })));
    expect(brief(strict.lookup({ dst: '192.168.1.240', src: '203.0.113.5', iif: 'eth1' }))).toBe('local lo [0] 192.168.1.240@local');
    // Neither nexthop on the ingress device: rejected.
    expect(brief(strict.lookup({ dst: '192.168.1.240', src: '198.51.100.5', iif: 'eth1' }))).toBe('EINVAL rp-filter [0]');
  });

  it('rp_filter: the reverse path, marks with src_valid_mark, interfaces without an address', () => {
    const policy = [route({ dst: 'default', table: '100', nexthops: via('192.168.1.254', 'eth1') })];
    const marked = [rule({ priority: 10, fwmark: 0x1, table: '100' })];
    const q = { dst: '192.168.1.240', src: '203.0.113.5', iif: 'eth1', mark: 0x1 };
    const strict = (svm: number) =>
      dual(policy, marked, (s) => ((s.sysctls.rpFilter = { all: 1 }), (s.sysctls.srcValidMark = { eth1: svm })));
    // Without src_valid_mark the reverse lookup ignores the mark and leaves by eth0: rejected; with it, by eth1.
    expect(brief(strict(0).lookup(q))).toBe('EINVAL rp-filter [0]');
    expect(brief(strict(1).lookup(q))).toBe('local lo [0] 192.168.1.240@local');
    const noRoute = dual(
      [],
      [rule({ priority: 10, action: 'unreachable', table: null, src: '192.168.1.240/32' })],
      (s) => (s.sysctls.rpFilter = { all: 2 }),
    );
    const a = noRoute.lookup({ dst: '192.168.1.240', src: '203.0.113.5', iif: 'eth1' });
    expect(brief(a)).toBe('EINVAL rp-filter [0]');
    expect(a.kind === 'error' && a.note).toBe('rp_filter=2 and the reverse path to 203.0.113.5 has no route (unreachable-rule)');
    const bare = dual(
      [],
      [],
      (s) => ((s.sysctls.rpFilter = { all: 2 }), (s.addrs = s.addrs.filter((x) => x.ifname !== 'eth1' || x.local === '192.168.1.240'))),
    );
    expect(brief(bare.lookup({ dst: '192.168.1.240', src: '203.0.113.5', iif: 'eth1' }))).toBe('local lo [0] 192.168.1.240@local');
    const broadcastBack = dual([
      route({ dst: '203.0.113.255', table: 'local', type: 'broadcast', nexthops: [{ gateway: null, dev: 'eth1', weight: 1, flags: [] }] }),
    ]);
    expect(brief(broadcastBack.lookup({ dst: '192.168.1.240', src: '203.0.113.255', iif: 'eth1' }))).toBe(
      'unknown: rp_filter=0 with a non-unicast reverse route depends on whether custom rules were ever added',
    );
  });
});
