// Typed parsers for iproute2's JSON output (`ip -j ...`). Unknown extra keys are tolerated (iproute2 adds
// fields over time); a missing or mistyped key the analysis depends on is an IpJsonError naming the path.

import { canonicalIp, parsePrefix, type Family } from '../net/ip.js';
import type { Addr, Link, Neighbour, Nexthop, Route, RouteType, Rule, RuleAction } from '../model/host-state.js';

export class IpJsonError extends Error {
  constructor(
    readonly source: string,
    readonly path: string,
    message: string,
  ) {
    super(`unexpected output from ${source} at ${path}: ${message}`);
    this.name = 'IpJsonError';
  }
}

type Obj = Record<string, unknown>;

class Reader {
  constructor(
    readonly source: string,
    readonly path: string,
    readonly obj: Obj,
  ) {}

  fail(key: string, what: string): never {
    const got = this.obj[key];
    throw new IpJsonError(this.source, `${this.path}.${key}`, `expected ${what}, got ${JSON.stringify(got) ?? 'nothing'}`);
  }

  has(key: string): boolean {
    return Object.prototype.hasOwnProperty.call(this.obj, key);
  }

  str(key: string): string {
    const v = this.obj[key];
    if (typeof v !== 'string' || v === '') this.fail(key, 'a non-empty string');
    return v;
  }

  optStr(key: string): string | null {
    return this.has(key) ? this.str(key) : null;
  }

  int(key: string): number {
    const v = this.obj[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) this.fail(key, 'a non-negative integer');
    return v;
  }

  optInt(key: string): number | null {
    return this.has(key) ? this.int(key) : null;
  }

  strArray(key: string): string[] {
    if (!this.has(key)) return [];
    const v = this.obj[key];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) this.fail(key, 'an array of strings');
    return v as string[];
  }

  ip(key: string): string {
    const s = this.str(key);
    const c = canonicalIp(s);
    if (c === null) this.fail(key, 'an IP address');
    return c;
  }

  optIp(key: string): string | null {
    return this.has(key) ? this.ip(key) : null;
  }

  /** iproute2 prints marks and masks as "0x10" strings. */
  optHex(key: string): number | null {
    if (!this.has(key)) return null;
    const v = this.obj[key];
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
    if (typeof v === 'string' && /^(0x[0-9a-fA-F]{1,8}|[0-9]{1,10})$/.test(v)) {
      const n = Number(v);
      if (n <= 0xffffffff) return n;
    }
    this.fail(key, 'a 32-bit number such as "0x10"');
  }
}

function asArray(source: string, data: unknown): Obj[] {
  if (!Array.isArray(data)) throw new IpJsonError(source, '$', `expected a JSON array, got ${typeof data}`);
  data.forEach((e, i) => {
    if (typeof e !== 'object' || e === null || Array.isArray(e)) {
      throw new IpJsonError(source, `$[${i}]`, 'expected an object');
    }
  });
  return data as Obj[];
}

export function parseJsonText(source: string, text: string): unknown {
  const trimmed = text.trim();
  // `ip -j` prints nothing at all for an empty list on some versions.
  if (trimmed === '') return [];
  try {
    return JSON.parse(trimmed);
  } catch (e) {
    throw new IpJsonError(source, '$', `not JSON (${(e as Error).message})`);
  }
}

export function parseLinks(data: unknown, source = 'ip -j -d link'): Link[] {
  return asArray(source, data).map((o, i) => {
    const r: Reader = new Reader(source, `$[${i}]`, o);
    let kind: string | null = null;
    const li = o['linkinfo'];
    if (li !== undefined) {
      if (typeof li !== 'object' || li === null) r.fail('linkinfo', 'an object');
      const k = (li as Obj)['info_kind'];
      if (k !== undefined) {
        if (typeof k !== 'string') r.fail('linkinfo', 'info_kind as a string');
        kind = k;
      }
    }
    return {
      ifindex: r.int('ifindex'),
      name: r.str('ifname'),
      kind,
      flags: r.strArray('flags'),
      operstate: r.optStr('operstate') ?? 'UNKNOWN',
      master: r.optStr('master'),
      address: r.optStr('address'),
      group: r.optStr('group') ?? 'default',
      linkType: r.optStr('link_type') ?? 'unknown',
      ...(o['xdp'] !== undefined ? { xdp: true } : {}),
    };
  });
}

export function parseAddrs(data: unknown, source = 'ip -j addr'): Addr[] {
  const out: Addr[] = [];
  asArray(source, data).forEach((o, i) => {
    const r: Reader = new Reader(source, `$[${i}]`, o);
    const ifindex = r.int('ifindex');
    const ifname = r.str('ifname');
    const infos = o['addr_info'];
    if (infos === undefined) return;
    if (!Array.isArray(infos)) r.fail('addr_info', 'an array');
    infos.forEach((a, j) => {
      if (typeof a !== 'object' || a === null) throw new IpJsonError(source, `$[${i}].addr_info[${j}]`, 'expected an object');
      const ar: Reader = new Reader(source, `$[${i}].addr_info[${j}]`, a as Obj);
      const fam = ar.str('family');
      if (fam !== 'inet' && fam !== 'inet6') return; // e.g. AF_PACKET entries
      const family: Family = fam === 'inet' ? 4 : 6;
      const local = ar.ip('local');
      const prefixlen = ar.int('prefixlen');
      if (prefixlen > (family === 4 ? 32 : 128)) ar.fail('prefixlen', 'a prefix length for the family');
      out.push({
        ifindex,
        ifname,
        family,
        local,
        prefixlen,
        scope: ar.optStr('scope') ?? 'global',
        secondary: ar.has('secondary'),
        label: ar.optStr('label'),
      });
    });
  });
  return out;
}

const ROUTE_TYPES: ReadonlySet<string> = new Set<RouteType>([
  'unicast',
  'local',
  'broadcast',
  'multicast',
  'anycast',
  'unreachable',
  'blackhole',
  'prohibit',
  'throw',
  'nat',
]);

/** iproute2 prints table ids it knows by name; normalise the reserved numbers to those names. */
function normaliseTable(t: string | number | null | undefined): string {
  if (t === null || t === undefined) return 'main';
  const s = String(t);
  if (s === '254') return 'main';
  if (s === '255') return 'local';
  if (s === '253') return 'default';
  return s;
}

function parseNexthop(r: Reader): Nexthop {
  let gateway = r.optIp('gateway');
  if (gateway === null && r.has('via')) {
    const via = r.obj['via'];
    const host = typeof via === 'object' && via !== null ? (via as Obj)['host'] : undefined;
    if (typeof host !== 'string' || canonicalIp(host) === null) r.fail('via', 'an object with an address in .host');
    gateway = canonicalIp(host);
  }
  return {
    gateway,
    dev: r.optStr('dev'),
    weight: r.optInt('weight') ?? 1,
    flags: r.strArray('flags'),
  };
}

// Route attributes that change the kernel's choice in ways the model does not evaluate.
const ROUTE_UNSUPPORTED_KEYS = ['from', 'tos', 'dsfield', 'nhid', 'encap', 'src'];

export function parseRoutes(data: unknown, family: Family, source = `ip -j -${family} route show table all`): Route[] {
  return asArray(source, data).map((o, i) => {
    const r: Reader = new Reader(source, `$[${i}]`, o);
    const type = r.optStr('type') ?? 'unicast';
    if (!ROUTE_TYPES.has(type)) r.fail('type', `one of ${[...ROUTE_TYPES].join(', ')}`);
    const dst = r.str('dst');
    if (parsePrefix(dst, family) === null) r.fail('dst', `an IPv${family} prefix or "default"`);
    const tableRaw = o['table'];
    if (tableRaw !== undefined && typeof tableRaw !== 'string' && typeof tableRaw !== 'number') r.fail('table', 'a table name or number');
    let nexthops: Nexthop[];
    if (r.has('nexthops')) {
      const nh = o['nexthops'];
      if (!Array.isArray(nh) || nh.length === 0) r.fail('nexthops', 'a non-empty array');
      nexthops = nh.map((n, j) => {
        if (typeof n !== 'object' || n === null) throw new IpJsonError(source, `$[${i}].nexthops[${j}]`, 'expected an object');
        return parseNexthop(new Reader(source, `$[${i}].nexthops[${j}]`, n as Obj));
      });
    } else {
      nexthops = [parseNexthop(r)];
    }
    const unsupported = ROUTE_UNSUPPORTED_KEYS.filter((k) => r.has(k)).map((k) => `${k} ${JSON.stringify(o[k])}`);
    return {
      family,
      table: normaliseTable(tableRaw as string | number | undefined),
      type: type as RouteType,
      dst,
      metric: r.optInt('metric') ?? 0,
      protocol: r.optStr('protocol'),
      scope: r.optStr('scope'),
      prefsrc: r.optIp('prefsrc'),
      nexthops,
      flags: r.strArray('flags'),
      unsupported,
    };
  });
}

const RULE_ACTIONS: ReadonlySet<string> = new Set(['nop', 'unreachable', 'blackhole', 'prohibit']);
// Selectors that narrow a rule beyond what the model evaluates: the model answers "unknown" when one applies.
// iproute2 prints a uid range as uid_start/uid_end, a port range as sport_start/sport_end (dport likewise) and a
// single port as sport/dport; newer versions add dscp, port masks and flowlabel_mask.
const RULE_UNSUPPORTED_KEYS = [
  'tos',
  'dsfield',
  'dscp',
  'ipproto',
  'sport',
  'sport_start',
  'sport_mask',
  'dport',
  'dport_start',
  'dport_mask',
  'uidrange',
  'uid_start',
  'l3mdev',
  'tun_id',
  'flowlabel',
];

function ruleSelector(r: Reader, key: 'src' | 'dst', family: Family): string | null {
  if (!r.has(key)) return null;
  const v = r.str(key);
  if (v === 'all') return null;
  const len = r.optInt(`${key}len`) ?? (family === 4 ? 32 : 128);
  const text = `${v}/${len}`;
  if (parsePrefix(text) === null || parsePrefix(text)!.family !== family) r.fail(key, `an IPv${family} prefix`);
  return text;
}

export function parseRules(data: unknown, family: Family, source = `ip -j -${family} rule`): Rule[] {
  return asArray(source, data).map((o, i) => {
    const r: Reader = new Reader(source, `$[${i}]`, o);
    let action: RuleAction;
    let table: string | null = null;
    let gotoTarget: number | null = null;
    if (r.has('goto')) {
      action = 'goto';
      gotoTarget = r.int('goto');
    } else if (r.has('nop')) {
      action = 'nop'; // iproute2 prints a nop rule as "nop": null
    } else if (r.has('action')) {
      const a = r.str('action');
      if (!RULE_ACTIONS.has(a)) r.fail('action', `one of ${[...RULE_ACTIONS].join(', ')}`);
      action = a as RuleAction;
    } else if (r.has('table')) {
      action = 'table';
      const t = o['table'];
      if (typeof t !== 'string' && typeof t !== 'number') r.fail('table', 'a table name or number');
      table = normaliseTable(t);
    } else {
      throw new IpJsonError(source, `$[${i}]`, 'rule has neither table, goto nor action');
    }
    const unsupported = RULE_UNSUPPORTED_KEYS.filter((k) => r.has(k)).map((k) => `${k} ${JSON.stringify(o[k])}`);
    return {
      family,
      priority: r.int('priority'),
      not: r.has('not'),
      src: ruleSelector(r, 'src', family),
      dst: ruleSelector(r, 'dst', family),
      iif: r.optStr('iif'),
      iifDetached: r.has('iif_detached'),
      oif: r.optStr('oif'),
      oifDetached: r.has('oif_detached'),
      fwmark: r.optHex('fwmark'),
      fwmask: r.optHex('fwmask'),
      action,
      table,
      goto: gotoTarget,
      suppressPrefixlen: r.optInt('suppress_prefixlen'),
      suppressIfgroup: r.has('suppress_ifgroup') ? String(o['suppress_ifgroup']) : null,
      unsupported,
    };
  });
}

export function parseNeighbours(data: unknown, family: Family, source = `ip -j -${family} neigh`): Neighbour[] {
  return asArray(source, data).flatMap((o, i) => {
    const r: Reader = new Reader(source, `$[${i}]`, o);
    const dst = canonicalIp(r.str('dst'));
    if (dst === null) return [];
    return [{ family, dst, dev: r.str('dev'), lladdr: r.optStr('lladdr'), state: r.strArray('state') }];
  });
}

export interface RouteGetResult {
  type: RouteType;
  dst: string;
  from: string | null;
  gateway: string | null;
  dev: string;
  prefsrc: string | null;
  iif: string | null;
}

export function parseRouteGet(data: unknown, source = 'ip -j route get'): RouteGetResult {
  const arr = asArray(source, data);
  if (arr.length !== 1) throw new IpJsonError(source, '$', `expected exactly one route, got ${arr.length}`);
  const r: Reader = new Reader(source, '$[0]', arr[0]!);
  const type = r.optStr('type') ?? 'unicast';
  if (!ROUTE_TYPES.has(type)) r.fail('type', 'a route type');
  let gateway = r.optIp('gateway');
  if (gateway === null && r.has('via')) gateway = parseNexthop(r).gateway;
  return {
    type: type as RouteType,
    dst: r.ip('dst'),
    from: r.optIp('from'),
    gateway,
    dev: r.str('dev'),
    prefsrc: r.optIp('prefsrc'),
    iif: r.optStr('iif'),
  };
}
