// IPv4 with the boot-time rules only: the kernel looks local and main up in one trie (fib_lookup's fast path), which
// differs from the rule-by-rule walk where a main route is more specific than a local-table one. Each expected answer
// was measured with `ip route get` in a namespace holding the same routes (veth v0 in the role of eth0, v1 of eth1).

import { describe, expect, it } from 'vitest';
import { RouteModel, type ModelAnswer } from '../../agent/analysis/route-model.js';
import type { HostSnapshot, Route, Rule } from '../../agent/model/host-state.js';
import type { RouteQuestion } from '../../agent/model/route-question.js';
import { addV6Eth1, route, rule, snapshot, via } from '../helpers/snapshot.js';

const short = (a: ModelAnswer) => {
  if (a.kind === 'unknown') return `unknown: ${a.reason}`;
  const where = a.route ? `${a.route.dst}@${a.route.table}` : '-';
  if (a.kind === 'error') return `${a.errno} ${a.reason} [${a.rule?.priority ?? '-'}] ${where}`;
  return `${a.type} ${a.candidates.map((c) => `${c.dev}/${c.gateway ?? '-'}`).join('|')} [${a.rule?.priority ?? '-'}] ${where}`;
};
const steps = (a: ModelAnswer) => a.trace.map((t) => `${t.rule.priority}:${t.outcome}:${t.route?.dst ?? '-'}`);

const eth = (dev: string) => [{ gateway: null, dev, weight: 1, flags: [] }];
// `ip route add local 10.20.0.0/24 dev v0 table local`: an AnyIP range, less specific than main's routes below.
const ANYIP = route({ dst: '10.20.0.0/24', table: 'local', type: 'local', nexthops: eth('eth0') });
const HOST = route({ dst: '10.20.0.240', nexthops: via('192.168.121.1', 'eth0') });

const ask = (routes: Route[], q: RouteQuestion, edit: (s: HostSnapshot) => void = () => undefined) => {
  const s = snapshot(routes, []);
  edit(s);
  return new RouteModel(s).lookup(q);
};

describe('route model: local and main in one trie', () => {
  it('a main route more specific than a local-table route wins; the local route answers elsewhere', () => {
    const a = ask([ANYIP, HOST], { dst: '10.20.0.240' });
    expect(short(a)).toBe('unicast eth0/192.168.121.1 [32766] 10.20.0.240@main');
    expect(a.kind === 'route' && a.table).toBe('main');
    expect(steps(a)).toEqual(['32766:selected:10.20.0.240']);
    expect(short(ask([ANYIP, HOST], { dst: '10.20.0.241' }))).toBe('local lo/- [0] 10.20.0.0/24@local');
  });

  it('once a custom rule exists the local table is asked first', () => {
    const custom = (s: HostSnapshot) => s.rules.splice(1, 0, rule({ priority: 100, src: '10.99.0.0/16', table: '100' }));
    const a = ask([ANYIP, HOST], { dst: '10.20.0.240' }, custom);
    expect(short(a)).toBe('local lo/- [0] 10.20.0.0/24@local');
    expect(steps(a)).toEqual(['0:selected:10.20.0.0/24']);
  });

  it('main reject routes more specific than the local-table route end the lookup', () => {
    const routes = [
      ANYIP,
      route({ dst: '10.20.0.7', type: 'prohibit', nexthops: [] }),
      route({ dst: '10.20.0.16/28', type: 'unreachable', nexthops: [] }),
    ];
    const p = ask(routes, { dst: '10.20.0.7' });
    expect(short(p)).toBe('EACCES prohibit-route [32766] 10.20.0.7@main');
    expect(steps(p)).toEqual(['32766:error:10.20.0.7']);
    expect(short(ask(routes, { dst: '10.20.0.17' }))).toBe('EHOSTUNREACH unreachable-route [32766] 10.20.0.16/28@main');
  });

  it('a main throw route more specific than the local-table route goes on with the default table', () => {
    const thrown = route({ dst: '10.20.0.8', type: 'throw', nexthops: [] });
    const a = ask([ANYIP, thrown], { dst: '10.20.0.8' });
    expect(short(a)).toBe('ENETUNREACH no-route [-] -');
    expect(steps(a)).toEqual(['32766:throw:10.20.0.8', '32767:table-missing:-']);
    const inDefault = route({ dst: '10.20.0.8', table: 'default', nexthops: via('192.168.1.254', 'eth1') });
    const b = ask([ANYIP, thrown, inDefault], { dst: '10.20.0.8' });
    expect(short(b)).toBe('unicast eth1/192.168.1.254 [32767] 10.20.0.8@default');
    expect(steps(b)).toEqual(['32766:throw:10.20.0.8', '32767:selected:10.20.0.8']);
  });

  it('at equal prefix local comes first, whatever the metrics', () => {
    const routes = [
      route({ dst: '10.20.0.9', table: 'local', type: 'local', metric: 10, nexthops: eth('eth1') }),
      route({ dst: '10.20.0.9', metric: 0, nexthops: via('192.168.121.1', 'eth0') }),
    ];
    expect(short(ask(routes, { dst: '10.20.0.9' }))).toBe('local lo/- [0] 10.20.0.9@local');
  });

  it('a local route skipped for its device leaves the main route of the same prefix', () => {
    // The VIP's local route is on eth1; asked with oif eth0 the trie goes on to main's /32.
    const routes = [route({ dst: '192.168.1.240', metric: 0, nexthops: via('192.168.121.1', 'eth0') })];
    expect(short(ask(routes, { dst: '192.168.1.240', oif: 'eth0' }))).toBe('unicast eth0/192.168.121.1 [32766] 192.168.1.240@main');
    expect(short(ask(routes, { dst: '192.168.1.240' }))).toBe('local lo/- [0] 192.168.1.240@local');
    // With the AnyIP range on eth0 as well, the walk would stop at it; the trie takes main's /32 (metric 5 measured).
    const wide = [route({ dst: '192.168.1.0/24', table: 'local', type: 'local', nexthops: eth('eth0') }), { ...routes[0]!, metric: 5 }];
    expect(short(ask(wide, { dst: '192.168.1.240', oif: 'eth0' }))).toBe('unicast eth0/192.168.121.1 [32766] 192.168.1.240@main');
  });

  it('a main route the model does not evaluate, more specific than the local-table route: declined', () => {
    const a = ask([ANYIP, route({ dst: '10.20.0.128/25', unsupported: ['encap'] })], { dst: '10.20.0.200' });
    expect(short(a)).toBe('unknown: route 10.20.0.128/25 in table main has attributes the model does not evaluate (encap)');
    expect(a.trace).toEqual([]);
  });

  // A boot-time rule carries no selector: one that does was added later, so custom rules exist and the walk applies.
  it.each<[string, Partial<Rule>]>([
    ['from', { src: '10.0.0.0/8' }],
    ['to', { dst: '10.0.0.0/8' }],
    ['iif', { iif: 'eth1' }],
    ['oif', { oif: 'eth1' }],
    ['fwmark', { fwmark: 1 }],
    ['fwmark 0/mask', { fwmask: 0xf }],
    ['not', { not: true, src: '10.99.0.0/16' }],
    ['suppress_prefixlength', { suppressPrefixlen: 8 }],
    ['suppress_ifgroup', { suppressIfgroup: 'mgmt' }],
    ['ipproto', { unsupported: ['ipproto tcp'] }],
    ['action nop', { action: 'nop', table: null }],
    ['action nop, the table field left as main', { action: 'nop' }],
    ['another table', { table: '100' }],
    ['another priority', { priority: 32765 }],
  ])('main rule with %s: rule by rule', (_n, edit) => {
    const redo = (s: HostSnapshot) => (s.rules[1] = rule({ priority: 32766, ...edit }));
    expect(short(ask([ANYIP, HOST], { dst: '10.20.0.240' }, redo))).toBe('local lo/- [0] 10.20.0.0/24@local');
  });

  it.each<[string, Partial<Rule>]>([
    ['another table', { table: '100' }],
    ['fwmark', { fwmark: 1 }],
  ])('default rule with %s: rule by rule', (_n, edit) => {
    const redo = (s: HostSnapshot) => (s.rules[2] = rule({ priority: 32767, ...edit }));
    expect(short(ask([ANYIP, HOST], { dst: '10.20.0.240' }, redo))).toBe('local lo/- [0] 10.20.0.0/24@local');
  });

  it('a plain rule after the default rule is a custom rule as well', () => {
    const after = (s: HostSnapshot) => s.rules.push(rule({ priority: 40000, table: '100' }));
    expect(short(ask([ANYIP, HOST], { dst: '10.20.0.240' }, after))).toBe('local lo/- [0] 10.20.0.0/24@local');
  });

  it('a host without IPv4 local routes, or without main routes', () => {
    const noLocal = (s: HostSnapshot) => (s.routes = s.routes.filter((r) => r.table !== 'local'));
    expect(short(ask([], { dst: '203.0.113.5' }, noLocal))).toBe('unicast eth0/192.168.121.1 [32766] default@main');
    const noMain = (s: HostSnapshot) => (s.routes = s.routes.filter((r) => r.table !== 'main'));
    expect(short(ask([], { dst: '203.0.113.5' }, noMain))).toBe('ENETUNREACH no-route [-] -');
    expect(short(ask([], { dst: '192.168.1.240' }, noMain))).toBe('local lo/- [0] 192.168.1.240@local');
  });

  it('the local rule with a selector: rule by rule', () => {
    const redo = (s: HostSnapshot) => (s.rules[0] = rule({ priority: 0, table: 'local', iif: 'lo' }));
    expect(short(ask([ANYIP, HOST], { dst: '10.20.0.240' }, redo))).toBe('local lo/- [0] 10.20.0.0/24@local');
  });
});

describe('route model: default rules deleted', () => {
  const DELETED = 'default rules were deleted: whether the kernel honours the rule list depends on whether a custom rule was ever added';
  const dropDefault = (s: HostSnapshot) => s.rules.splice(2, 1);

  it('IPv4 without the default rule, and every rule left as at boot: declined', () => {
    expect(short(ask([], { dst: '203.0.113.5' }, dropDefault))).toBe(`unknown: IPv4 ${DELETED}`);
    expect(short(ask([], { dst: '203.0.113.5' }, (s) => (s.rules = [])))).toBe(`unknown: IPv4 ${DELETED}`);
  });

  // The question is locally generated, without source or mark: each selector decides on that alone.
  const NONE = 'ENETUNREACH no-route [-] -';
  const MAIN = 'unicast eth0/192.168.121.1 [32766] default@main';
  it.each<[string, Partial<Rule>, string]>([
    ['from', { src: '10.0.0.0/8' }, NONE],
    ['to', { dst: '203.0.113.0/24' }, MAIN],
    ['iif', { iif: 'lo' }, MAIN],
    ['oif', { oif: 'eth1' }, NONE],
    ['fwmark', { fwmark: 0 }, MAIN],
    ['fwmark 0/mask', { fwmask: 0xf }, MAIN],
    ['not', { not: true, src: '10.99.0.0/16' }, MAIN],
    ['suppress_prefixlength', { suppressPrefixlen: 32 }, NONE],
    ['suppress_ifgroup', { suppressIfgroup: 'mgmt' }, MAIN],
    ['ipproto', { unsupported: ['ipproto tcp'] }, 'unknown: rule 32766 uses selectors the model does not evaluate (ipproto tcp)'],
    ['another table', { table: '100' }, NONE],
    ['another priority', { priority: 32000 }, 'unicast eth0/192.168.121.1 [32000] default@main'],
  ])('IPv4 without the default rule, main rule with %s: a custom rule was added, the walk applies', (_n, edit, expected) => {
    const redo = (s: HostSnapshot) => (dropDefault(s), (s.rules[1] = rule({ priority: 32766, ...edit })));
    expect(short(ask([], { dst: '203.0.113.5' }, redo))).toBe(expected);
  });

  it('a goto as the main rule: a custom rule was added', () => {
    const redo = (s: HostSnapshot) => (dropDefault(s), (s.rules[1] = rule({ priority: 32766, action: 'goto', table: null, goto: 40000 })));
    expect(short(ask([], { dst: '203.0.113.5' }, redo))).toBe('ENETUNREACH no-route [-] -');
  });

  it('IPv6 without any rule: declined', () => {
    const q = { dst: '2001:db8::5', src: 'fd00:1::1' };
    expect(short(ask([], q, addV6Eth1))).toBe(`unknown: IPv6 ${DELETED}`);
  });

  it('IPv6 without the main rule: declined; with a selector on the local rule: walked', () => {
    const v6 = (local: Partial<Rule>) => (s: HostSnapshot) => s.rules.push(rule({ family: 6, priority: 0, table: 'local', ...local }));
    const q = { dst: '2001:db8::5', src: 'fd00:1::1' };
    expect(short(ask([], q, (s) => (addV6Eth1(s), v6({})(s))))).toBe(`unknown: IPv6 ${DELETED}`);
    expect(short(ask([], q, (s) => (addV6Eth1(s), v6({ iif: 'eth1' })(s))))).toBe('ENETUNREACH no-route [-] -');
  });
});
