// A model of the Linux FIB lookup (policy rules + tables) over a host-state snapshot.
//
// It follows net/core/fib_rules.c (fib_rules_lookup: priority order, goto, nop, suppress_*, "not"),
// net/ipv4/fib_trie.c (fib_table_lookup: longest prefix, then metric; reject route types end the lookup,
// throw continues with the next rule), net/ipv4/route.c (ip_route_output_key_hash_rcu: source must be local,
// oif with no route means "assume on-link", multipath and fib_select_default) and net/ipv4/fib_frontend.c
// (fib_validate_source: rp_filter). Anything it does not cover is answered as `unknown` with the reason,
// never guessed; docs/design.md lists those limits.

import {
  formatIp,
  ipEquals,
  isLoopback,
  isMulticast,
  isUnspecified,
  parseIp,
  parsePrefix,
  prefixContains,
  type Family,
  type IpAddr,
  type Prefix,
} from '../net/ip.js';
import type { HostSnapshot, Nexthop, Route, RouteType, Rule } from '../model/host-state.js';
import type { KernelErrno, RouteQuestion } from '../model/route-question.js';

/** Why a lookup ends in an error, as a bounded enum. */
export type LookupErrorReason =
  | 'no-route' // no rule produced a route
  | 'unreachable-route'
  | 'prohibit-route'
  | 'blackhole-route'
  | 'unreachable-rule'
  | 'prohibit-rule'
  | 'blackhole-rule'
  | 'source-not-local' // output lookup with a source address this host does not own
  | 'rp-filter' // reverse-path check failed for an input lookup
  | 'martian-source'
  | 'no-forwarding';

export type TraceOutcome =
  'no-match' | 'nop' | 'goto' | 'goto-unresolved' | 'table-missing' | 'no-route-in-table' | 'throw' | 'suppressed' | 'selected' | 'error';

export interface TraceStep {
  rule: Rule;
  outcome: TraceOutcome;
  route?: Route;
}

export interface PathChoice {
  dev: string;
  gateway: string | null;
}

export interface RouteAnswer {
  kind: 'route';
  type: RouteType;
  /** every nexthop the kernel may pick (more than one: multipath hash or fib_select_default) */
  candidates: PathChoice[];
  route: Route | null;
  rule: Rule | null;
  table: string | null;
  trace: TraceStep[];
  note?: string;
}

export interface ErrorAnswer {
  kind: 'error';
  errno: KernelErrno;
  reason: LookupErrorReason;
  rule: Rule | null;
  route: Route | null;
  trace: TraceStep[];
  note?: string;
}

export interface UnknownAnswer {
  kind: 'unknown';
  reason: string;
  trace: TraceStep[];
  /** a rule on the path selects on what a route question cannot carry (port, protocol, uid...): these selectors */
  unevaluatedSelectors?: string[];
}

export type ModelAnswer = RouteAnswer | ErrorAnswer | UnknownAnswer;

interface CRoute {
  r: Route;
  prefix: Prefix;
  idx: number;
}

interface CRule {
  r: Rule;
  src: Prefix | null;
  dst: Prefix | null;
}

interface Flow {
  family: Family;
  dst: IpAddr;
  src: IpAddr | null;
  iif: string; // "lo" for locally generated traffic, as the kernel uses LOOPBACK_IFINDEX
  oif: string | null;
  mark: number;
}

type TableResult =
  | { kind: 'route'; route: CRoute; nexthops: Nexthop[] }
  | { kind: 'error'; errno: KernelErrno; reason: LookupErrorReason; route: CRoute }
  | { kind: 'none' }
  | { kind: 'throw'; route: CRoute }
  | { kind: 'unknown'; reason: string };

type FibResult =
  | { kind: 'route'; route: CRoute; nexthops: Nexthop[]; rule: Rule; table: string; trace: TraceStep[] }
  | { kind: 'error'; errno: KernelErrno; reason: LookupErrorReason; rule: Rule | null; route: CRoute | null; trace: TraceStep[] }
  | { kind: 'unknown'; reason: string; trace: TraceStep[]; unevaluatedSelectors?: string[] };

/** A local route delivers to this host: the kernel answers `local … dev lo`, for output and input lookups alike. */
function localAnswer(res: Extract<FibResult, { kind: 'route' }>): RouteAnswer {
  return {
    kind: 'route',
    type: 'local',
    candidates: [{ dev: 'lo', gateway: null }],
    route: res.route.r,
    rule: res.rule,
    table: res.table,
    trace: res.trace,
  };
}

const REJECT: Partial<Record<RouteType, { errno: KernelErrno; reason: LookupErrorReason }>> = {
  unreachable: { errno: 'EHOSTUNREACH', reason: 'unreachable-route' },
  prohibit: { errno: 'EACCES', reason: 'prohibit-route' },
  blackhole: { errno: 'EINVAL', reason: 'blackhole-route' },
  nat: { errno: 'EINVAL', reason: 'blackhole-route' },
};

const RULE_REJECT: Record<'unreachable' | 'prohibit' | 'blackhole', { errno: KernelErrno; reason: LookupErrorReason }> = {
  unreachable: { errno: 'ENETUNREACH', reason: 'unreachable-rule' },
  prohibit: { errno: 'EACCES', reason: 'prohibit-rule' },
  blackhole: { errno: 'EINVAL', reason: 'blackhole-rule' },
};

const DEFAULT_V4_RULES = [
  [0, 'local'],
  [32766, 'main'],
  [32767, 'default'],
] as const;
const DEFAULT_V6_RULES = [
  [0, 'local'],
  [32766, 'main'],
] as const;

export class RouteModel {
  private readonly tables = new Map<string, CRoute[]>(); // key `${family}:${table}`
  private readonly rules: Record<Family, CRule[]> = { 4: [], 6: [] };
  private readonly localAddrs: IpAddr[];
  private readonly linkByName = new Map<string, HostSnapshot['links'][number]>();
  private readonly v4DefaultRulesOnly: boolean;
  private readonly defaultRulesDeleted: Record<Family, boolean>;

  constructor(readonly snapshot: HostSnapshot) {
    snapshot.routes.forEach((r, idx) => {
      const prefix = parsePrefix(r.dst, r.family);
      if (!prefix) return;
      const key = `${r.family}:${r.table}`;
      let list = this.tables.get(key);
      if (!list) this.tables.set(key, (list = []));
      list.push({ r, prefix, idx });
    });
    for (const list of this.tables.values()) {
      list.sort((a, b) => b.prefix.len - a.prefix.len || a.r.metric - b.r.metric || a.idx - b.idx);
    }
    for (const r of snapshot.rules) {
      this.rules[r.family].push({
        r,
        src: r.src ? parsePrefix(r.src) : null,
        dst: r.dst ? parsePrefix(r.dst) : null,
      });
    }
    // Rules of equal priority keep the kernel's list order; sort is stable.
    for (const f of [4, 6] as const) this.rules[f].sort((a, b) => a.r.priority - b.r.priority);
    this.localAddrs = snapshot.addrs.map((a) => parseIp(a.local)).filter((a): a is IpAddr => a !== null);
    for (const l of snapshot.links) this.linkByName.set(l.name, l);
    // A rule as the kernel creates it at boot: a plain lookup, no selector, no suppressor. One that carries anything
    // else was added later, so custom rules were added (fib_has_custom_rules).
    const plain = (c: CRule) =>
      c.r.action === 'table' &&
      !c.src &&
      !c.dst &&
      !c.r.iif &&
      !c.r.oif &&
      c.r.fwmark === null &&
      c.r.fwmask === null &&
      !c.r.not &&
      c.r.suppressPrefixlen === null &&
      c.r.suppressIfgroup === null &&
      c.r.unsupported.length === 0;
    const isDefault = (c: CRule, defaults: readonly (readonly [number, string])[]) =>
      plain(c) && defaults.some(([p, t]) => c.r.priority === p && c.r.table === t);
    // Only default rules left, some deleted: the kernel ignores the rule list until a custom rule was ever added.
    this.defaultRulesDeleted = {
      4: this.rules[4].every((c) => isDefault(c, DEFAULT_V4_RULES)) && this.rules[4].length < DEFAULT_V4_RULES.length,
      6: this.rules[6].every((c) => isDefault(c, DEFAULT_V6_RULES)) && this.rules[6].length < DEFAULT_V6_RULES.length,
    };
    const v4 = this.rules[4];
    this.v4DefaultRulesOnly =
      v4.length === DEFAULT_V4_RULES.length &&
      v4.every((c, i) => plain(c) && c.r.priority === DEFAULT_V4_RULES[i]![0] && c.r.table === DEFAULT_V4_RULES[i]![1]);
  }

  isLocalAddress(ip: IpAddr): boolean {
    return this.localAddrs.some((a) => ipEquals(a, ip));
  }

  lookup(q: RouteQuestion): ModelAnswer {
    const dst = parseIp(q.dst);
    if (!dst) return { kind: 'unknown', reason: `destination ${JSON.stringify(q.dst)} is not an IP address`, trace: [] };
    const src = q.src ? parseIp(q.src) : null;
    if (q.src && (!src || src.family !== dst.family)) {
      return { kind: 'unknown', reason: `source ${JSON.stringify(q.src)} is not an IPv${dst.family} address`, trace: [] };
    }
    for (const name of [q.iif, q.oif]) {
      if (name && !this.linkByName.has(name)) return { kind: 'unknown', reason: `no interface named ${name} in the snapshot`, trace: [] };
    }
    if (isMulticast(dst) || isUnspecified(dst) || (src && (isMulticast(src) || isUnspecified(src)))) {
      return { kind: 'unknown', reason: 'multicast, broadcast and unspecified addresses are not modelled', trace: [] };
    }
    const flow: Flow = { family: dst.family, dst, src, iif: q.iif ?? 'lo', oif: q.oif ?? null, mark: q.mark ?? 0 };
    return q.iif ? this.input(flow) : this.output(flow);
  }

  // ip_route_output_key_hash_rcu
  private output(flow: Flow): ModelAnswer {
    // With a source address the kernel does not restrict the IPv6 lookup to the oif (no RT6_LOOKUP_F_IFACE): the oif
    // only feeds oif rule selectors. Without one the interface match is strict, which is not modelled.
    if (flow.family === 6 && flow.oif && !flow.src)
      return { kind: 'unknown', reason: 'IPv6 lookups with an output interface and no source address are not modelled', trace: [] };
    if (flow.family === 6 && !flow.src && this.rules[6].some((c) => c.src && c.src.len > 0)) {
      return { kind: 'unknown', reason: 'IPv6 rules with a source selector and a question without a source are not modelled', trace: [] };
    }
    if (flow.family === 4 && flow.src) {
      if (isLoopback(flow.src) && !isLoopback(flow.dst)) return { kind: 'unknown', reason: 'loopback sources are not modelled', trace: [] };
      if (!this.isLocalAddress(flow.src)) {
        return {
          kind: 'error',
          errno: 'ENETUNREACH',
          reason: 'source-not-local',
          rule: null,
          route: null,
          trace: [],
          note: `${formatIp(flow.src)} is not an address of this host`,
        };
      }
    }
    if (flow.family === 4 && flow.oif) {
      const l = this.linkByName.get(flow.oif)!;
      if (!l.flags.includes('UP'))
        return { kind: 'error', errno: 'ENETUNREACH', reason: 'no-route', rule: null, route: null, trace: [], note: `${flow.oif} is down` };
    }
    const res = this.fibLookup(flow);
    if (res.kind === 'unknown') return res;
    if (res.kind === 'error') {
      if (flow.family === 4 && flow.oif) {
        // The kernel assumes the destination is on-link when an output interface was given and no route matched.
        return {
          kind: 'route',
          type: 'unicast',
          candidates: [{ dev: flow.oif, gateway: null }],
          route: null,
          rule: res.rule,
          table: null,
          trace: res.trace,
          note: `no route matched; the kernel assumes ${formatIp(flow.dst)} is on-link on ${flow.oif}`,
        };
      }
      return { kind: 'error', errno: res.errno, reason: res.reason, rule: res.rule, route: res.route?.r ?? null, trace: res.trace };
    }
    const route = res.route.r;
    if (route.type === 'local') {
      return localAnswer(res);
    }
    if (route.type !== 'unicast') {
      return { kind: 'unknown', reason: `${route.type} routes are not modelled for output lookups`, trace: res.trace };
    }
    let nexthops = res.nexthops;
    if (!flow.oif || flow.family === 6) {
      if (route.nexthops.length > 1) {
        nexthops = this.usableNexthops(route, flow.family, null).filter((n) => n.weight > 0);
      } else if (res.route.prefix.len === 0 && flow.family === 4) {
        nexthops = this.selectDefaultCandidates(res.table, res.route, nexthops);
      }
    }
    if (flow.family === 6) {
      const v6 = this.v6RouterChoice(res.table, res.route, nexthops);
      if ('unknown' in v6) return { kind: 'unknown', reason: v6.unknown, trace: res.trace };
      nexthops = v6.nexthops;
    }
    const candidates = dedupe(nexthops.map((n) => ({ dev: n.dev ?? '', gateway: n.gateway })));
    return { kind: 'route', type: 'unicast', candidates, route, rule: res.rule, table: res.table, trace: res.trace };
  }

  // ip_route_input_slow: packets addressed to this host (the VIP case) and, for IPv4, forwarded packets
  // (a DNAT'd backend's reply: IN_DEV_FORWARD on the ingress device, then __mkroute_input's source validation).
  private input(flow: Flow): ModelAnswer {
    const src = flow.src;
    if (!src) return { kind: 'unknown', reason: 'input lookups need a source address', trace: [] };
    if (flow.oif) return { kind: 'unknown', reason: 'input lookups with an output interface are not modelled', trace: [] };
    if (isLoopback(src) || isLoopback(flow.dst)) {
      return {
        kind: 'error',
        errno: 'EINVAL',
        reason: 'martian-source',
        rule: null,
        route: null,
        trace: [],
        note: 'loopback addresses on a non-loopback interface are martian',
      };
    }
    if (this.isLocalAddress(src))
      return {
        kind: 'unknown',
        reason: 'input lookups whose source is a local address depend on accept_local, which is not modelled',
        trace: [],
      };
    const res = this.fibLookup(flow);
    if (res.kind === 'unknown') return res;
    if (res.kind === 'error') {
      if (flow.family === 6)
        return { kind: 'unknown', reason: 'IPv6 input lookups without a local route are not modelled', trace: res.trace };
      const fwd = this.forwardingOn(flow.iif);
      if (fwd === null) return { kind: 'unknown', reason: `whether ${flow.iif} forwards is not in the snapshot`, trace: res.trace };
      if (!fwd) return this.noForwarding(flow, res.rule, res.route?.r ?? null, res.trace);
      return { kind: 'error', errno: res.errno, reason: res.reason, rule: res.rule, route: res.route?.r ?? null, trace: res.trace };
    }
    const route = res.route.r;
    if (route.type === 'local') {
      if (flow.family === 4) {
        const rpf = this.validateSource(flow);
        if (rpf.kind === 'unknown') return { ...rpf, trace: res.trace };
        if (rpf.kind === 'reject') {
          return { kind: 'error', errno: 'EINVAL', reason: 'rp-filter', rule: res.rule, route, trace: res.trace, note: rpf.note };
        }
      }
      return localAnswer(res);
    }
    if (flow.family === 6) return { kind: 'unknown', reason: 'IPv6 forwarding lookups are not modelled', trace: res.trace };
    if (route.type !== 'unicast') {
      return { kind: 'unknown', reason: `input lookups that end in a ${route.type} route are not modelled`, trace: res.trace };
    }
    const fwd = this.forwardingOn(flow.iif);
    if (fwd === null) return { kind: 'unknown', reason: `whether ${flow.iif} forwards is not in the snapshot`, trace: res.trace };
    if (!fwd) return this.noForwarding(flow, res.rule, route, res.trace);
    // ip_mkroute_input: multipath hashes the flow (fib_select_multipath); fib_select_default is output-only.
    const nexthops = route.nexthops.length > 1 ? this.usableNexthops(route, 4, null).filter((n) => n.weight > 0) : res.nexthops;
    const candidates = dedupe(nexthops.map((n) => ({ dev: n.dev ?? '', gateway: n.gateway })));
    // fib_validate_source skips the reverse lookup when rp_filter is 0 and the packet leaves by another device.
    const quick = this.effectiveRpFilter(flow.iif) === 0 && candidates.every((c) => c.dev !== flow.iif);
    if (!quick) {
      const rpf = this.validateSource(flow);
      if (rpf.kind === 'unknown') return { ...rpf, trace: res.trace };
      if (rpf.kind === 'reject')
        return { kind: 'error', errno: 'EINVAL', reason: 'rp-filter', rule: res.rule, route, trace: res.trace, note: rpf.note };
    }
    return {
      kind: 'route',
      type: 'unicast',
      candidates,
      route,
      rule: res.rule,
      table: res.table,
      trace: res.trace,
      note: `forwarded: received on ${flow.iif}`,
    };
  }

  // IN_DEV_FORWARD: the ingress device's own forwarding switch (set for all devices by net.ipv4.ip_forward).
  private forwardingOn(iif: string): boolean | null {
    const per = this.snapshot.sysctls.forwarding?.[iif];
    if (per !== undefined) return per > 0;
    const global = this.snapshot.sysctls.ipForward;
    return global === null ? null : global > 0;
  }

  private noForwarding(flow: Flow, rule: Rule | null, route: Route | null, trace: TraceStep[]): ModelAnswer {
    return { kind: 'error', errno: 'EHOSTUNREACH', reason: 'no-forwarding', rule, route, trace, note: `forwarding is off on ${flow.iif}` };
  }

  /** rp_filter as the kernel applies it: max(conf/all, conf/<iif>). */
  effectiveRpFilter(ifname: string): number {
    const s = this.snapshot.sysctls.rpFilter;
    return Math.max(s['all'] ?? 0, s[ifname] ?? 0);
  }

  // fib_validate_source / __fib_validate_source for a packet delivered locally (oif 0).
  private validateSource(
    flow: Flow,
  ): { kind: 'accept' } | { kind: 'reject'; note: string } | { kind: 'unknown'; reason: string; unevaluatedSelectors?: string[] } {
    const rpf = this.effectiveRpFilter(flow.iif);
    const marks = this.snapshot.sysctls.srcValidMark;
    const useMark = Math.max(marks['all'] ?? 0, marks[flow.iif] ?? 0) > 0;
    const reverse: Flow = { family: 4, dst: flow.src!, src: flow.dst, iif: 'lo', oif: null, mark: useMark ? flow.mark : 0 };
    const res = this.fibLookup(reverse);
    if (res.kind === 'unknown')
      return {
        kind: 'unknown',
        reason: `reverse-path lookup: ${res.reason}`,
        ...(res.unevaluatedSelectors ? { unevaluatedSelectors: res.unevaluatedSelectors } : {}),
      };
    const back = `the reverse path to ${formatIp(flow.src!)}`;
    if (rpf === 0) {
      // The kernel's quick path and full check agree unless the reverse lookup ends in a non-unicast route.
      if (res.kind === 'route' && res.route.r.type !== 'unicast') {
        return { kind: 'unknown', reason: 'rp_filter=0 with a non-unicast reverse route depends on whether custom rules were ever added' };
      }
      // Stryker disable next-line ObjectLiteral,StringLiteral: the callers test only for 'unknown' and 'reject', so any other object accepts alike
      return { kind: 'accept' };
    }
    if (res.kind === 'error') return { kind: 'reject', note: `rp_filter=${rpf} and ${back} has no route (${res.reason})` };
    if (res.route.r.type !== 'unicast') return { kind: 'reject', note: `${back} is a ${res.route.r.type} route` };
    const hasAddr = this.snapshot.addrs.some((a) => a.family === 4 && a.ifname === flow.iif);
    // fib_info_nh_uses_dev: any nexthop of the route counts, dead and linkdown ones included.
    const devs = res.route.r.nexthops.map((n) => n.dev);
    // Stryker disable next-line ObjectLiteral,StringLiteral: the callers test only for 'unknown' and 'reject', so any other object accepts alike
    if (devs.includes(flow.iif)) return { kind: 'accept' };
    if (!hasAddr) return { kind: 'reject', note: `${flow.iif} has no IPv4 address and rp_filter=${rpf}` };
    if (rpf === 1) {
      return {
        kind: 'reject',
        note: `rp_filter=1 (strict) on ${flow.iif} and ${back} leaves via ${devs.join(', ') || 'another interface'}`,
      };
    }
    // Stryker disable next-line ObjectLiteral,StringLiteral: the callers test only for 'unknown' and 'reject', so any other object accepts alike
    return { kind: 'accept' };
  }

  // fib_rules_lookup
  private fibLookup(flow: Flow, checkMerged = true, first = 0): FibResult {
    const trace: TraceStep[] = [];
    const rules = this.rules[flow.family];
    if (this.defaultRulesDeleted[flow.family]) {
      return {
        kind: 'unknown',
        reason: `IPv${flow.family} default rules were deleted: whether the kernel honours the rule list depends on whether a custom rule was ever added`,
        trace,
      };
    }
    if (checkMerged && flow.family === 4 && this.v4DefaultRulesOnly) return this.mergedLocalMainLookup(flow);
    for (let i = first; i < rules.length; i++) {
      const c = rules[i]!;
      if (c.r.unsupported.length > 0 && this.unsupportedMayMatch(c, flow)) {
        return {
          kind: 'unknown',
          reason: `rule ${c.r.priority} uses selectors the model does not evaluate (${c.r.unsupported.join(', ')})`,
          trace,
          unevaluatedSelectors: c.r.unsupported,
        };
      }
      if (!this.ruleMatches(c, flow)) {
        trace.push({ rule: c.r, outcome: 'no-match' });
        continue;
      }
      const r = c.r;
      if (r.action === 'nop') {
        trace.push({ rule: r, outcome: 'nop' });
        continue;
      }
      if (r.action === 'goto') {
        // The kernel refuses a goto to its own or an earlier priority (fib_nl2rule: "Backward goto not supported"),
        // so only a hand-made snapshot has one; following it would never end.
        if (r.goto === null || r.goto <= r.priority)
          return { kind: 'unknown', reason: `rule ${r.priority} goes back to ${r.goto ?? 'nothing'}, which the kernel refuses`, trace };
        const target = rules.findIndex((t) => t.r.priority === r.goto);
        if (target === -1) {
          trace.push({ rule: r, outcome: 'goto-unresolved' });
          continue;
        }
        trace.push({ rule: r, outcome: 'goto' });
        i = target - 1;
        continue;
      }
      if (r.action !== 'table') {
        const rej = RULE_REJECT[r.action];
        trace.push({ rule: r, outcome: 'error' });
        return { kind: 'error', errno: rej.errno, reason: rej.reason, rule: r, route: null, trace };
      }
      const table = r.table!;
      const list = this.tables.get(`${flow.family}:${table}`);
      if (!list) {
        // Tables other than local/main/default exist only while they hold routes.
        trace.push({ rule: r, outcome: 'table-missing' });
        continue;
      }
      const tr = this.tableLookup(list, flow);
      if (tr.kind === 'unknown') return { kind: 'unknown', reason: tr.reason, trace };
      if (tr.kind === 'none') {
        trace.push({ rule: r, outcome: 'no-route-in-table' });
        continue;
      }
      if (tr.kind === 'throw') {
        trace.push({ rule: r, outcome: 'throw', route: tr.route.r });
        continue;
      }
      if (tr.kind === 'error') {
        trace.push({ rule: r, outcome: 'error', route: tr.route.r });
        return { kind: 'error', errno: tr.errno, reason: tr.reason, rule: r, route: tr.route, trace };
      }
      if (this.suppressed(r, tr.route, tr.nexthops)) {
        trace.push({ rule: r, outcome: 'suppressed', route: tr.route.r });
        continue;
      }
      trace.push({ rule: r, outcome: 'selected', route: tr.route.r });
      return { kind: 'route', route: tr.route, nexthops: tr.nexthops, rule: r, table, trace };
    }
    return { kind: 'error', errno: 'ENETUNREACH', reason: 'no-route', rule: null, route: null, trace };
  }

  // Without custom rules the kernel looks up local and main in one trie (fib_lookup's fast path): the longest prefix of
  // either table wins, at equal prefix local before main (aliases are ordered by table id, then metric), and a throw
  // route goes on with the default table. Where that differs from the rule-by-rule walk (a local route of shorter
  // prefix, or one skipped for its nexthops), the trie's pick is the kernel's answer (measured with `ip route get`).
  private mergedLocalMainLookup(flow: Flow): FibResult {
    const sequential = this.fibLookup(flow, false);
    const local = this.tables.get('4:local') ?? [];
    const main = this.tables.get('4:main') ?? [];
    // Both lists are in metric order already; the stable sort keeps local before main at equal prefix length.
    const merged = [...local, ...main].sort((a, b) => b.prefix.len - a.prefix.len);
    const m = this.tableLookup(merged, flow);
    if (m.kind === 'none') return sequential;
    if (m.kind === 'unknown') return { kind: 'unknown', reason: m.reason, trace: [] };
    if (sequential.kind !== 'unknown' && sequential.route === m.route) return sequential;
    const rule = this.rules[4].find((c) => c.r.table === m.route.r.table)!.r;
    if (m.kind === 'throw') {
      const rest = this.fibLookup(flow, false, DEFAULT_V4_RULES.length - 1);
      return { ...rest, trace: [{ rule, outcome: 'throw', route: m.route.r }, ...rest.trace] };
    }
    if (m.kind === 'error') {
      return {
        kind: 'error',
        errno: m.errno,
        reason: m.reason,
        rule,
        route: m.route,
        trace: [{ rule, outcome: 'error', route: m.route.r }],
      };
    }
    const trace: TraceStep[] = [{ rule, outcome: 'selected', route: m.route.r }];
    return { kind: 'route', route: m.route, nexthops: m.nexthops, rule, table: m.route.r.table, trace };
  }

  // A rule with an unevaluated selector only matters if its other selectors match.
  private unsupportedMayMatch(c: CRule, flow: Flow): boolean {
    return this.ruleMatches(c, flow) || c.r.not;
  }

  // fib_rule_match + fib4_rule_match / fib6_rule_match
  private ruleMatches(c: CRule, flow: Flow): boolean {
    const r = c.r;
    let ok = true;
    if (r.iif !== null && (r.iifDetached || r.iif !== flow.iif)) ok = false;
    if (ok && r.oif !== null && (r.oifDetached || r.oif !== flow.oif)) ok = false;
    if (ok && r.fwmark !== null) {
      const mask = r.fwmask ?? 0xffffffff;
      if (((r.fwmark ^ flow.mark) & mask) >>> 0 !== 0) ok = false;
    } else if (
      // Stryker disable next-line LogicalOperator: the branch only clears ok; with ok already false, or a null or zero mask (mark & mask is 0), it changes nothing
      ok &&
      r.fwmask !== null &&
      r.fwmask !== 0
    ) {
      if ((flow.mark & r.fwmask) >>> 0 !== 0) ok = false;
    }
    if (ok && c.src && c.src.len > 0) {
      if (!flow.src) {
        // IPv4 compares 0.0.0.0 with the selector; an IPv6 question without source was refused earlier.
        ok = prefixContains(c.src, { family: flow.family, value: 0n });
      } else if (!prefixContains(c.src, flow.src)) ok = false;
    }
    if (ok && c.dst && c.dst.len > 0 && !prefixContains(c.dst, flow.dst)) ok = false;
    return r.not ? !ok : ok;
  }

  // fib4_rule_suppress / fib6_rule_suppress
  private suppressed(r: Rule, route: CRoute, nexthops: Nexthop[]): boolean {
    if (r.suppressPrefixlen !== null && route.prefix.len <= r.suppressPrefixlen) return true;
    if (r.suppressIfgroup !== null) {
      // Stryker disable next-line OptionalChaining: a route result has at least one usable nexthop (tableLookup skips routes without), so nexthops[0] exists
      const dev = nexthops[0]?.dev;
      const group = dev ? this.linkByName.get(dev)?.group : undefined;
      if (group !== undefined && group === r.suppressIfgroup) return true;
    }
    return false;
  }

  private linkdownIgnored(dev: string | null, family: Family): boolean | 'unknown' {
    if (family === 6) return 'unknown';
    const s = this.snapshot.sysctls.ignoreRoutesWithLinkdown;
    return Math.max(s['all'] ?? 0, dev ? (s[dev] ?? 0) : 0) > 0;
  }

  private usableNexthops(route: Route, family: Family, oif: string | null): Nexthop[] {
    return route.nexthops.filter((n) => {
      if (n.flags.includes('dead')) return false;
      if (n.flags.includes('linkdown') && this.linkdownIgnored(n.dev, family) === true) return false;
      if (oif && n.dev !== oif) return false;
      return true;
    });
  }

  // fib_table_lookup (IPv4) and the prefix/metric part of fib6_table_lookup (IPv6)
  private tableLookup(list: CRoute[], flow: Flow): TableResult {
    for (const c of list) {
      if (!prefixContains(c.prefix, flow.dst)) continue;
      const r = c.r;
      if (r.unsupported.length > 0)
        return {
          kind: 'unknown',
          reason: `route ${r.dst} in table ${r.table} has attributes the model does not evaluate (${r.unsupported.join(', ')})`,
        };
      const rej = REJECT[r.type];
      if (rej) return { kind: 'error', errno: rej.errno, reason: rej.reason, route: c };
      if (r.type === 'throw') return { kind: 'throw', route: c };
      const routeFlags = r.nexthops.length === 1 ? r.nexthops[0]!.flags : r.flags;
      if (routeFlags.includes('dead') || r.flags.includes('dead')) continue;
      if (
        r.nexthops.some((n) => n.flags.includes('linkdown')) &&
        // Stryker disable next-line MethodExpression: linkdownIgnored is 'unknown' for every IPv6 nexthop and never for IPv4, so some and every agree (an empty list stops at the first operand)
        r.nexthops.some((n) => this.linkdownIgnored(n.dev, flow.family) === 'unknown')
      ) {
        return { kind: 'unknown', reason: `route ${r.dst} has a linkdown nexthop (IPv6 ignore_routes_with_linkdown is not read)` };
      }
      const usable = this.usableNexthops(r, flow.family, flow.family === 4 ? flow.oif : null);
      if (usable.length === 0) continue;
      // Stryker disable next-line StringLiteral,LogicalOperator: callers test the other kinds and take the rest as a route; [usable[0]] and usable differ only for multipath, recomputed without an oif (and always for IPv6), and suppress_ifgroup reads nexthops[0] alike
      return { kind: 'route', route: c, nexthops: flow.oif && flow.family === 4 ? [usable[0]!] : usable };
    }
    return { kind: 'none' };
  }

  // fib_select_default: with several default routes of equal metric the kernel may pick another one by neighbour state.
  private selectDefaultCandidates(table: string, chosen: CRoute, nexthops: Nexthop[]): Nexthop[] {
    // Stryker disable next-line ArrayDeclaration: the chosen route came from this table, so it exists
    const list = this.tables.get(`4:${table}`) ?? [];
    const defaults = list.filter((c) => c.prefix.len === 0);
    // Stryker disable next-line LogicalOperator: the caller passes unicast routes only, so the && form is false and peers.length < 2 returns the nexthops for fewer than two defaults
    if (defaults.length < 2 || chosen.r.type !== 'unicast') return nexthops;
    const peers = defaults.filter(
      (c) =>
        c.r.metric === chosen.r.metric &&
        c.r.type === 'unicast' &&
        c.r.nexthops.length === 1 &&
        c.r.nexthops[0]!.gateway !== null &&
        !c.r.nexthops[0]!.flags.includes('dead'),
    );
    if (peers.length < 2) return nexthops;
    return peers.map((c) => c.r.nexthops[0]!);
  }

  // rt6_select: equal-metric IPv6 routes are chosen by router reachability and round robin.
  private v6RouterChoice(table: string, chosen: CRoute, nexthops: Nexthop[]): { nexthops: Nexthop[] } | { unknown: string } {
    // Stryker disable next-line ArrayDeclaration: the chosen route came from this table, so it exists
    const list = this.tables.get(`6:${table}`) ?? [];
    const peers = list.filter(
      (c) =>
        c.prefix.len === chosen.prefix.len &&
        c.prefix.value === chosen.prefix.value &&
        c.r.metric === chosen.r.metric &&
        c.r.type === 'unicast',
    );
    const all = peers.length > 1 ? peers.flatMap((c) => this.usableNexthops(c.r, 6, null)) : nexthops;
    for (const n of all) {
      if (!n.gateway) continue;
      const neigh = this.snapshot.neighbours.find((x) => x.family === 6 && x.dst === n.gateway && x.dev === n.dev);
      if (neigh && (neigh.state.includes('FAILED') || neigh.state.includes('INCOMPLETE'))) {
        return {
          unknown: `IPv6 router ${n.gateway} is ${neigh.state.join(',')}: the kernel's router reachability choice (rt6_select) is not modelled`,
        };
      }
    }
    return { nexthops: all };
  }
}

function dedupe(c: PathChoice[]): PathChoice[] {
  const seen = new Set<string>();
  return c.filter((x) => {
    const k = `${x.dev}|${x.gateway ?? ''}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** Human text for one rule, as `ip rule` would print it. */
export function describeRule(r: Rule): string {
  const parts = [`${r.priority}:`];
  if (r.not) parts.push('not');
  parts.push('from', r.src ?? 'all');
  if (r.dst) parts.push('to', r.dst);
  if (r.fwmark !== null) parts.push('fwmark', `0x${r.fwmark.toString(16)}${r.fwmask !== null ? `/0x${r.fwmask.toString(16)}` : ''}`);
  if (r.iif) parts.push('iif', r.iif);
  if (r.oif) parts.push('oif', r.oif);
  if (r.action === 'table') parts.push('lookup', r.table ?? '?');
  else if (r.action === 'goto') parts.push('goto', String(r.goto));
  else parts.push(r.action);
  if (r.suppressPrefixlen !== null) parts.push('suppress_prefixlength', String(r.suppressPrefixlen));
  return parts.join(' ');
}

/** Human text for one route, as `ip route` would print it; without the metric, as `ip route del` selects it. */
export function describeRoute(r: Route, opts: { metric?: boolean } = {}): string {
  const parts: string[] = [];
  if (r.type !== 'unicast') parts.push(r.type);
  parts.push(r.dst);
  if (r.nexthops.length === 1) {
    const n = r.nexthops[0]!;
    if (n.gateway) parts.push('via', n.gateway);
    if (n.dev) parts.push('dev', n.dev);
  }
  if (r.table !== 'main') parts.push('table', r.table);
  if (r.metric && opts.metric !== false) parts.push('metric', String(r.metric));
  if (r.nexthops.length > 1) {
    for (const n of r.nexthops)
      parts.push('nexthop', ...(n.gateway ? ['via', n.gateway] : []), ...(n.dev ? ['dev', n.dev] : []), 'weight', String(n.weight));
  }
  return parts.join(' ');
}
