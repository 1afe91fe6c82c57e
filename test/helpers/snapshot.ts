// Hand-written host snapshots: the incident node (eth0 management, eth1 LAN, VIP 192.168.1.240) plus extras.

import type { HostSnapshot, Route, Rule } from '../../agent/model/host-state.js';

export function route(p: Partial<Route> & { dst: string }): Route {
  return {
    family: 4,
    table: 'main',
    type: 'unicast',
    metric: 0,
    protocol: null,
    scope: null,
    prefsrc: null,
    nexthops: [{ gateway: null, dev: 'eth0', weight: 1, flags: [] }],
    flags: [],
    unsupported: [],
    ...p,
  };
}
export function rule(p: Partial<Rule> & { priority: number }): Rule {
  return {
    family: 4,
    not: false,
    src: null,
    dst: null,
    iif: null,
    iifDetached: false,
    oif: null,
    oifDetached: false,
    fwmark: null,
    fwmask: null,
    action: 'table',
    table: 'main',
    goto: null,
    suppressPrefixlen: null,
    suppressIfgroup: null,
    unsupported: [],
    ...p,
  };
}
export const via = (gateway: string, dev: string) => [{ gateway, dev, weight: 1, flags: [] }];

export function snapshot(routes: Route[], rules: Rule[]): HostSnapshot {
  return {
    version: 1,
    takenAt: '2026-01-01T00:00:00Z',
    hostname: 't',
    links: ['lo', 'eth0', 'eth1'].map((name, i) => ({
      ifindex: i + 1,
      name,
      kind: null,
      flags: ['UP'],
      operstate: 'UP',
      master: null,
      address: null,
      group: 'default',
      linkType: 'ether',
    })),
    addrs: [
      { ifindex: 2, ifname: 'eth0', family: 4, local: '192.168.121.10', prefixlen: 24, scope: 'global', secondary: false, label: null },
      { ifindex: 3, ifname: 'eth1', family: 4, local: '192.168.1.10', prefixlen: 24, scope: 'global', secondary: false, label: null },
      { ifindex: 3, ifname: 'eth1', family: 4, local: '192.168.1.240', prefixlen: 32, scope: 'global', secondary: false, label: null },
    ],
    routes: [
      route({ dst: 'default', nexthops: via('192.168.121.1', 'eth0') }),
      route({ dst: '192.168.121.0/24' }),
      route({ dst: '192.168.1.0/24', nexthops: [{ gateway: null, dev: 'eth1', weight: 1, flags: [] }] }),
      route({ dst: '192.168.1.240', table: 'local', type: 'local', nexthops: [{ gateway: null, dev: 'eth1', weight: 1, flags: [] }] }),
      route({ dst: '192.168.1.10', table: 'local', type: 'local', nexthops: [{ gateway: null, dev: 'eth1', weight: 1, flags: [] }] }),
      route({ dst: '192.168.121.10', table: 'local', type: 'local' }),
      ...routes,
    ],
    rules: [rule({ priority: 0, table: 'local' }), ...rules, rule({ priority: 32766 }), rule({ priority: 32767, table: 'default' })],
    neighbours: [],
    sysctls: {
      ipForward: 0,
      ipv6Forwarding: 0,
      rpFilter: { all: 0 },
      srcValidMark: {},
      arpIgnore: {},
      arpAnnounce: {},
      fibMultipathHashPolicy: 0,
      ignoreRoutesWithLinkdown: {},
    },
    ipReversePathFilter: 0,
    // a host whose ruleset was read and is empty: no DNAT, no marks
    netfilter: { chains: [], read: ['iptables-save: 0 rules', 'nft -j list ruleset: 0 native rules'], errors: [] },
  };
}

export const v6route = (p: Partial<Route> & { dst: string }) =>
  route({ family: 6, metric: 1024, nexthops: via('fd00:1::fe', 'eth1'), ...p });
export const v6rule = (p: Partial<Rule> & { priority: number }) => rule({ family: 6, ...p });

/** fd00:1::1/64 on eth1, the incident node's LAN. */
export function addV6Eth1(s: HostSnapshot): void {
  s.addrs.push({
    ifindex: 3,
    ifname: 'eth1',
    family: 6,
    local: 'fd00:1::1',
    prefixlen: 64,
    scope: 'global',
    secondary: false,
    label: null,
  });
}

/** The incident node plus IPv6 on eth1: its address, connected and local routes, a default via fd00:1::fe, and the local and main rules. */
export function dualStack(routes: Route[] = [], rules: Rule[] = [], edit: (s: HostSnapshot) => void = () => undefined): HostSnapshot {
  const s = snapshot(routes, rules);
  addV6Eth1(s);
  const eth1 = [{ gateway: null, dev: 'eth1', weight: 1, flags: [] }];
  s.routes.push(
    v6route({ dst: 'fd00:1::/64', metric: 256, nexthops: eth1 }),
    v6route({ dst: 'fd00:1::1', table: 'local', type: 'local', metric: 0, nexthops: eth1 }),
    v6route({ dst: 'default' }),
  );
  s.rules.push(v6rule({ priority: 0, table: 'local' }), v6rule({ priority: 32766 }));
  edit(s);
  return s;
}
