// The host-state snapshot: plain JSON, so a snapshot taken on a node can be analysed anywhere.

import type { Family } from '../net/ip.js';
import type { NetfilterState } from './netfilter.js';

export const SNAPSHOT_VERSION = 1;

export interface Link {
  ifindex: number;
  name: string;
  /** linkinfo.info_kind: veth, bridge, dummy, macvlan, ... ; null for plain devices */
  kind: string | null;
  flags: string[];
  operstate: string;
  master: string | null;
  address: string | null;
  group: string;
  linkType: string;
  /** an XDP program is attached (ip -d link shows "xdp") */
  xdp?: boolean;
}

export interface Addr {
  ifindex: number;
  ifname: string;
  family: Family;
  local: string;
  prefixlen: number;
  scope: string;
  secondary: boolean;
  label: string | null;
}

export type RouteType =
  'unicast' | 'local' | 'broadcast' | 'multicast' | 'anycast' | 'unreachable' | 'blackhole' | 'prohibit' | 'throw' | 'nat';

export interface Nexthop {
  gateway: string | null;
  dev: string | null;
  weight: number;
  flags: string[];
}

export interface Route {
  family: Family;
  /** iproute2's table name: "main", "local", "default" or the number as text. */
  table: string;
  type: RouteType;
  /** "default" or a prefix as iproute2 prints it (host routes without /len). */
  dst: string;
  metric: number;
  protocol: string | null;
  scope: string | null;
  prefsrc: string | null;
  nexthops: Nexthop[];
  flags: string[];
  /** Attributes the route model does not evaluate (source-specific "from", tos, nhid, encap...). */
  unsupported: string[];
}

export type RuleAction = 'table' | 'goto' | 'nop' | 'unreachable' | 'blackhole' | 'prohibit';

export interface Rule {
  family: Family;
  priority: number;
  not: boolean;
  /** null means "all" */
  src: string | null;
  dst: string | null;
  iif: string | null;
  iifDetached: boolean;
  oif: string | null;
  oifDetached: boolean;
  fwmark: number | null;
  fwmask: number | null;
  action: RuleAction;
  table: string | null;
  goto: number | null;
  suppressPrefixlen: number | null;
  suppressIfgroup: string | null;
  /** Selectors the route model does not evaluate (tos, ipproto, sport, dport, uidrange, l3mdev...). */
  unsupported: string[];
}

export interface Neighbour {
  family: Family;
  dst: string;
  dev: string;
  lladdr: string | null;
  state: string[];
}

export interface Sysctls {
  ipForward: number | null;
  /** net.ipv4.conf.<dev>.forwarding per device (absent in snapshots older than the forwarding model) */
  forwarding?: Record<string, number>;
  ipv6Forwarding: number | null;
  /** per name: "all", "default" and each interface */
  rpFilter: Record<string, number>;
  srcValidMark: Record<string, number>;
  arpIgnore: Record<string, number>;
  arpAnnounce: Record<string, number>;
  /** net.ipv4.fib_multipath_hash_policy: how multipath picks a nexthop */
  fibMultipathHashPolicy: number | null;
  ignoreRoutesWithLinkdown: Record<string, number>;
}

export interface HostSnapshot {
  version: number;
  takenAt: string;
  hostname: string;
  links: Link[];
  addrs: Addr[];
  routes: Route[];
  rules: Rule[];
  neighbours: Neighbour[];
  sysctls: Sysctls;
  /** TcpExt IPReversePathFilter from /proc/net/netstat: packets dropped by rp_filter. */
  ipReversePathFilter: number | null;
  /** BPF programs attached with tc (device, direction, program), as `tc -j filter show` lists them */
  tcBpf?: string[];
  /** the DNAT and mark rules; absent in snapshots taken before they were read (then marks are unknown) */
  netfilter?: NetfilterState;
}
