// Table tests of the route model's explanations on hand-written snapshots (the differential test covers agreement).

import { describe, expect, it } from 'vitest';
import { describeRule, RouteModel, type ModelAnswer } from '../../agent/analysis/route-model.js';
import type { Route, Rule } from '../../agent/model/host-state.js';
import { route, rule, snapshot, via } from '../helpers/snapshot.js';

const brief = (a: ModelAnswer) =>
  a.kind === 'route'
    ? `${a.candidates.map((c) => `${c.dev}${c.gateway ? ` via ${c.gateway}` : ''}`).join('|')} [${a.rule ? a.rule.priority : '-'}]`
    : a.kind === 'error'
      ? `${a.errno} ${a.reason}`
      : `unknown: ${a.reason}`;

const POLICY = [route({ dst: 'default', table: '100', nexthops: via('192.168.1.254', 'eth1') })];

describe('route model', () => {
  it.each<[string, Route[], Rule[], Parameters<RouteModel['lookup']>[0], string | RegExp]>([
    ['incident: default route on eth0', [], [], { dst: '203.0.113.5', src: '192.168.1.240' }, 'eth0 via 192.168.121.1 [32766]'],
    [
      'policy routing sends VIP replies to eth1',
      POLICY,
      [rule({ priority: 100, src: '192.168.1.240/32', table: '100' })],
      { dst: '203.0.113.5', src: '192.168.1.240' },
      'eth1 via 192.168.1.254 [100]',
    ],
    [
      'policy rule does not apply to other sources',
      POLICY,
      [rule({ priority: 100, src: '192.168.1.240/32', table: '100' })],
      { dst: '203.0.113.5', src: '192.168.1.10' },
      'eth0 via 192.168.121.1 [32766]',
    ],
    ['source not local', [], [], { dst: '203.0.113.5', src: '10.9.9.9' }, 'ENETUNREACH source-not-local'],
    [
      'fwmark rule with mask',
      POLICY,
      [rule({ priority: 50, fwmark: 0x10, fwmask: 0xf0, table: '100' })],
      { dst: '203.0.113.5', mark: 0x1f },
      'eth1 via 192.168.1.254 [50]',
    ],
    [
      'fwmark rule misses',
      POLICY,
      [rule({ priority: 50, fwmark: 0x10, fwmask: 0xf0, table: '100' })],
      { dst: '203.0.113.5', mark: 0x20 },
      'eth0 via 192.168.121.1 [32766]',
    ],
    [
      'suppress_prefixlength 0 skips the default route',
      [],
      [rule({ priority: 10, suppressPrefixlen: 0 }), rule({ priority: 20, action: 'prohibit', table: null })],
      { dst: '203.0.113.5' },
      'EACCES prohibit-rule',
    ],
    [
      'goto jumps over rules',
      [],
      [
        rule({ priority: 10, action: 'goto', table: null, goto: 30 }),
        rule({ priority: 20, action: 'unreachable', table: null }),
        rule({ priority: 30, action: 'blackhole', table: null }),
      ],
      { dst: '203.0.113.5' },
      'EINVAL blackhole-rule',
    ],
    [
      'unresolved goto falls through',
      [],
      [rule({ priority: 10, action: 'goto', table: null, goto: 25 }), rule({ priority: 20, action: 'unreachable', table: null })],
      { dst: '203.0.113.5' },
      'ENETUNREACH unreachable-rule',
    ],
    [
      'not inverts the selector',
      [],
      [rule({ priority: 10, not: true, dst: '203.0.113.0/24', action: 'prohibit', table: null })],
      { dst: '198.51.100.1' },
      'EACCES prohibit-rule',
    ],
    [
      'iif lo matches locally generated traffic',
      [],
      [rule({ priority: 10, iif: 'lo', action: 'prohibit', table: null })],
      { dst: '198.51.100.1' },
      'EACCES prohibit-rule',
    ],
    [
      'throw continues with the next rule',
      [route({ dst: '203.0.113.0/24', type: 'throw' })],
      [],
      { dst: '203.0.113.5' },
      'ENETUNREACH no-route',
    ],
    [
      'unreachable route',
      [route({ dst: '203.0.113.0/24', type: 'unreachable' })],
      [],
      { dst: '203.0.113.5' },
      'EHOSTUNREACH unreachable-route',
    ],
    [
      'lower metric wins',
      [
        route({ dst: '203.0.113.0/24', metric: 20, nexthops: via('192.168.121.1', 'eth0') }),
        route({ dst: '203.0.113.0/24', metric: 10, nexthops: via('192.168.1.254', 'eth1') }),
      ],
      [],
      { dst: '203.0.113.5' },
      'eth1 via 192.168.1.254 [32766]',
    ],
    [
      'multipath: every live nexthop is a candidate',
      [
        route({
          dst: '203.0.113.0/24',
          nexthops: [
            ...via('192.168.1.254', 'eth1'),
            ...via('192.168.121.1', 'eth0'),
            { gateway: '192.168.1.253', dev: 'eth1', weight: 1, flags: ['dead'] },
          ],
        }),
      ],
      [],
      { dst: '203.0.113.5' },
      'eth1 via 192.168.1.254|eth0 via 192.168.121.1 [32766]',
    ],
    [
      'oif without a route: assumed on-link',
      [],
      [rule({ priority: 10, action: 'unreachable', table: null })],
      { dst: '203.0.113.5', oif: 'eth1' },
      'eth1 [10]',
    ],
    [
      'unsupported selector that could match: unknown',
      [],
      [rule({ priority: 10, unsupported: ['ipproto "tcp"'] })],
      { dst: '203.0.113.5' },
      /^unknown: rule 10 uses selectors/,
    ],
    [
      'input: local delivery with rp_filter off',
      [],
      [rule({ priority: 10, src: '10.0.0.0/8', table: '100' })],
      { dst: '192.168.1.240', src: '203.0.113.5', iif: 'eth1' },
      'lo [0]',
    ],
  ])('%s', (_name, routes, rules, q, expected) => {
    const a = new RouteModel(snapshot(routes, rules)).lookup(q);
    if (typeof expected === 'string') expect(brief(a)).toBe(expected);
    else expect(brief(a)).toMatch(expected);
  });

  it('strict rp_filter rejects a request whose reverse path leaves elsewhere, loose accepts it', () => {
    const s = snapshot([], [rule({ priority: 10, src: '10.0.0.0/8', table: '100' })]);
    s.sysctls.rpFilter = { all: 0, eth1: 1 };
    const q = { dst: '192.168.1.240', src: '203.0.113.5', iif: 'eth1' };
    const strict = new RouteModel(s).lookup(q);
    expect(brief(strict)).toBe('EINVAL rp-filter');
    expect(strict.kind === 'error' && strict.note).toMatch(/rp_filter=1 \(strict\) on eth1 .* leaves via eth0/);
    s.sysctls.rpFilter = { all: 2, eth1: 1 };
    expect(brief(new RouteModel(s).lookup(q))).toBe('lo [0]');
  });

  it('describes rules as ip rule prints them', () => {
    expect(describeRule(rule({ priority: 100, src: '192.168.1.240/32', table: '100' }))).toBe('100: from 192.168.1.240/32 lookup 100');
    expect(describeRule(rule({ priority: 5, not: true, fwmark: 16, fwmask: 255, action: 'goto', table: null, goto: 9 }))).toBe(
      '5: not from all fwmark 0x10/0xff goto 9',
    );
  });
});
