// Shapes as iproute2 6.1 prints them (recorded from namespaces on this kernel), and malformed variants.

import { describe, expect, it } from 'vitest';
import { IpJsonError, parseAddrs, parseLinks, parseRouteGet, parseRoutes, parseRules, parseJsonText } from '../../agent/parsers/ip-json.js';

const LINKS = [
  {
    ifindex: 1,
    ifname: 'lo',
    flags: ['LOOPBACK', 'UP', 'LOWER_UP'],
    mtu: 65536,
    operstate: 'UNKNOWN',
    group: 'default',
    link_type: 'loopback',
    address: '00:00:00:00:00:00',
  },
  {
    ifindex: 3,
    link: 'vb',
    ifname: 'eth1',
    flags: ['BROADCAST', 'MULTICAST', 'UP'],
    operstate: 'UP',
    group: 'default',
    link_type: 'ether',
    address: 'd6:d8:b9:f0:36:37',
    linkinfo: { info_kind: 'veth' },
  },
];

const ADDRS = [
  {
    ifindex: 5,
    ifname: 'eth1',
    flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'],
    addr_info: [
      { family: 'inet', local: '192.168.1.10', prefixlen: 24, scope: 'global', label: 'eth1' },
      { family: 'inet', local: '192.168.1.240', prefixlen: 32, scope: 'global', label: 'eth1' },
      { family: 'inet', local: '192.168.1.241', prefixlen: 24, scope: 'global', secondary: true, label: 'eth1' },
      { family: 'inet6', local: '2001:db8:1::10', prefixlen: 64, scope: 'global', nodad: true },
      { family: 'inet6', local: 'fe80::bcfc:16ff:fe08:aa96', prefixlen: 64, scope: 'link' },
    ],
  },
];

describe('links and addresses', () => {
  it('parses kinds, flags and addresses', () => {
    const l = parseLinks(LINKS);
    expect(l[1]).toMatchObject({ ifindex: 3, name: 'eth1', kind: 'veth', operstate: 'UP' });
    expect(l[0]!.kind).toBeNull();
    const a = parseAddrs(ADDRS);
    expect(a.map((x) => `${x.local}/${x.prefixlen}${x.secondary ? ' secondary' : ''}`)).toEqual([
      '192.168.1.10/24',
      '192.168.1.240/32',
      '192.168.1.241/24 secondary',
      '2001:db8:1::10/64',
      'fe80::bcfc:16ff:fe08:aa96/64',
    ]);
  });

  it.each([
    [[{ ifindex: '1', ifname: 'lo' }], /\$\[0\]\.ifindex: expected a non-negative integer, got "1"/],
    [[{ ifindex: 1 }], /\$\[0\]\.ifname: expected a non-empty string, got nothing/],
    [{ not: 'an array' }, /expected a JSON array/],
    [[17], /\$\[0\]: expected an object/],
  ])('rejects malformed link output %j', (data, msg) => {
    expect(() => parseLinks(data)).toThrow(msg);
  });

  it('rejects an address that is not one', () => {
    const bad = [{ ifindex: 2, ifname: 'eth0', addr_info: [{ family: 'inet', local: '10.0.0.300', prefixlen: 24 }] }];
    expect(() => parseAddrs(bad)).toThrow(IpJsonError);
    expect(() => parseAddrs(bad)).toThrow(/addr_info\[0\]\.local: expected an IP address, got "10\.0\.0\.300"/);
  });
});

describe('routes', () => {
  it('parses tables, types, gateways and multipath', () => {
    const r = parseRoutes(
      [
        { dst: 'default', gateway: '192.168.121.1', dev: 'eth0', flags: [] },
        {
          type: 'local',
          dst: '192.168.1.240',
          dev: 'eth1',
          table: 'local',
          protocol: 'kernel',
          scope: 'host',
          prefsrc: '192.168.1.240',
          flags: [],
        },
        { type: 'unreachable', dst: '10.1.0.0/16', flags: [] },
        {
          dst: '10.7.0.0/16',
          table: '100',
          flags: [],
          nexthops: [
            { gateway: '192.168.1.1', dev: 'eth1', weight: 2, flags: [] },
            { gateway: '192.168.121.1', dev: 'eth0', weight: 1, flags: ['dead'] },
          ],
        },
        { dst: '10.8.0.0/16', via: { family: 'inet6', host: 'fe80::1' }, dev: 'eth1', flags: [] },
      ],
      4,
    );
    expect(r.map((x) => [x.table, x.type, x.dst])).toEqual([
      ['main', 'unicast', 'default'],
      ['local', 'local', '192.168.1.240'],
      ['main', 'unreachable', '10.1.0.0/16'],
      ['100', 'unicast', '10.7.0.0/16'],
      ['main', 'unicast', '10.8.0.0/16'],
    ]);
    expect(r[3]!.nexthops).toEqual([
      { gateway: '192.168.1.1', dev: 'eth1', weight: 2, flags: [] },
      { gateway: '192.168.121.1', dev: 'eth0', weight: 1, flags: ['dead'] },
    ]);
    expect(r[4]!.nexthops[0]!.gateway).toBe('fe80::1');
  });

  it('marks attributes the model does not evaluate', () => {
    const r = parseRoutes([{ dst: '2001:db8::/64', from: '2001:db8:9::/64', dev: 'eth1', metric: 1024, flags: [] }], 6);
    expect(r[0]!.unsupported).toEqual(['from "2001:db8:9::/64"']);
  });

  it.each([
    [[{ dst: 'nowhere', dev: 'eth0' }], /\.dst: expected an IPv4 prefix/],
    [[{ dst: '10.0.0.0/8', type: 'teleport' }], /\.type: expected one of/],
    [[{ dst: '10.0.0.0/8', nexthops: [] }], /\.nexthops: expected a non-empty array/],
    [[{ dst: '10.0.0.0/8', gateway: 'x' }], /\.gateway: expected an IP address/],
  ])('rejects %j', (data, msg) => {
    expect(() => parseRoutes(data, 4)).toThrow(msg);
  });
});

describe('rules', () => {
  it('parses every action and selector form', () => {
    const r = parseRules(
      [
        { priority: 0, src: 'all', table: 'local' },
        { priority: 50, src: 'all', fwmark: '0x10', fwmask: '0xff', action: 'unreachable' },
        { priority: 60, not: null, src: 'all', dst: '10.0.0.0', dstlen: 8, table: 'main', suppress_prefixlen: 0 },
        { priority: 70, src: 'all', iif: 'eth1', goto: 100 },
        { priority: 75, src: 'all', goto: 500, unresolved: null },
        { priority: 80, src: 'all', oif: 'eth0', action: 'prohibit' },
        { priority: 90, src: 'all', nop: null },
        { priority: 100, src: '192.168.1.240', table: '100' },
        { priority: 110, src: 'all', ipproto: 'tcp', dport: 443, table: '254' },
      ],
      4,
    );
    expect(r.map((x) => [x.priority, x.action, x.table, x.goto])).toEqual([
      [0, 'table', 'local', null],
      [50, 'unreachable', null, null],
      [60, 'table', 'main', null],
      [70, 'goto', null, 100],
      [75, 'goto', null, 500],
      [80, 'prohibit', null, null],
      [90, 'nop', null, null],
      [100, 'table', '100', null],
      [110, 'table', 'main', null],
    ]);
    expect(r[1]).toMatchObject({ fwmark: 0x10, fwmask: 0xff });
    expect(r[2]).toMatchObject({ not: true, dst: '10.0.0.0/8', suppressPrefixlen: 0 });
    expect(r[7]!.src).toBe('192.168.1.240/32');
    expect(r[8]!.unsupported).toEqual(['ipproto "tcp"', 'dport 443']);
  });

  // iproute2's JSON names ranges uid_start/uid_end and sport_start/sport_end: a rule with one once parsed as if it
  // matched every uid and port, and the model answered for it (the route-model differential found it).
  it('marks uid and port ranges as selectors the model does not evaluate', () => {
    const r = parseRules(
      [
        { priority: 52, src: 'all', dst: '40.0.0.0', dstlen: 8, uid_start: 1000, uid_end: 2000, table: '100' },
        { priority: 53, src: 'all', sport_start: 1024, sport_end: 2048, table: '100' },
        { priority: 54, src: 'all', dport_start: 80, dport_end: 90, table: '100' },
        { priority: 55, src: 'all', dscp: 'CS1', table: '100' },
      ],
      4,
    );
    expect(r.map((x) => x.unsupported)).toEqual([['uid_start 1000'], ['sport_start 1024'], ['dport_start 80'], ['dscp "CS1"']]);
  });

  it('rejects a rule without an action', () => {
    expect(() => parseRules([{ priority: 5, src: 'all' }], 4)).toThrow(/rule has neither table, goto nor action/);
    expect(() => parseRules([{ priority: 5, src: 'all', fwmark: 'lots', table: 'main' }], 4)).toThrow(/\.fwmark: expected a 32-bit number/);
  });
});

describe('route get', () => {
  it('parses the kernel decision', () => {
    expect(
      parseRouteGet([{ dst: '203.0.113.5', from: '192.168.1.240', gateway: '192.168.121.1', dev: 'eth0', flags: [], uid: 0, cache: [] }]),
    ).toEqual({
      type: 'unicast',
      dst: '203.0.113.5',
      from: '192.168.1.240',
      gateway: '192.168.121.1',
      dev: 'eth0',
      prefsrc: null,
      iif: null,
    });
    expect(
      parseRouteGet([{ type: 'local', dst: '192.168.1.240', from: '203.0.113.5', dev: 'lo', flags: [], cache: ['local'], iif: 'eth1' }])
        .type,
    ).toBe('local');
    expect(() => parseRouteGet([])).toThrow(/expected exactly one route, got 0/);
  });

  it('reports text that is not JSON', () => {
    expect(() => parseJsonText('ip -j link', '[{"ifindex":')).toThrow(/not JSON/);
    expect(parseJsonText('ip -j rule', '  \n')).toEqual([]);
  });
});
