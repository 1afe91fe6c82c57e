// Differential test: random rules and routes in a namespace; the route model and the kernel (`ip -j route get`, and
// `... fibmatch` for the FIB entry) answer the same random questions. The test reads the kernel's JSON itself and
// decides agreement field by field (errno, type, device, gateway; prefix, table and metric of the matched entry),
// without the production comparator or parsers. What the random generator covered is asserted, and so are the setup
// commands the kernel refused. Each round also asks questions the model does not support (IPv6 oif without a source,
// IPv6 linkdown nexthops, IPv6 forwarding, accept_local, loopback sources, port/uid rule selectors, IPv6
// source-specific routes): the test classifies them itself and accepts "unknown" only for those, never a wrong answer.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { RouteModel, type ModelAnswer } from '../../agent/analysis/route-model.js';
import type { RouteQuestion } from '../../agent/model/route-question.js';
import { NetnsLab, type Netns } from '../../agent/netns/netns.js';
import { IpRunner } from '../../agent/sources/ip-command.js';
import { netnsProcReader, readHostState } from '../../agent/sources/host-state.js';
import { describeAsRoot, prng } from '../helpers/root.js';

// A fixed seed keeps CI deterministic; set ASYMROUTE_DIFF_SEED to explore other topologies.
const CI_SEED = 20261123;
const SEED = Number(process.env['ASYMROUTE_DIFF_SEED'] ?? CI_SEED);
// Coverage and "no unknown" are asserted at the CI seed; other seeds explore (disagreements still fail them).
const AT_CI_SEED = SEED === CI_SEED;
const ROUNDS = 10;
const QUESTIONS_PER_ROUND = 100;

// e0..e3 carry both families' random routes; e4's peer end goes down in odd rounds (linkdown nexthops). IPv4 routes
// use e4 at random; IPv6 only through one route (LINKDOWN6_DST), since the model declines IPv6 linkdown nexthops
// (ignore_routes_with_linkdown is read for IPv4 only).
const DEVS = ['e0', 'e1', 'e2', 'e3'];
const V4_DEVS = [...DEVS, 'e4'];
const V4_POOL = [
  '0.0.0.0/0',
  '20.0.0.0/8',
  '20.1.0.0/16',
  '20.1.2.0/24',
  '20.1.2.128/25',
  '20.1.2.130/32',
  '30.0.0.0/8',
  '30.5.0.0/16',
  '10.1.0.0/16',
  '10.2.0.128/25',
];
const V6_POOL = [
  '::/0',
  'fd10::/16',
  'fd10:1::/32',
  'fd10:1:2::/48',
  'fd10:1:2:3::/64',
  'fd10:1:2:3::5/128',
  '2001:db8:aa::/48',
  'fd00:1::/32',
];
const TABLES = ['main', '100', '101', '102'];
const MARKS = [0x1, 0x10, 0x11, 0x100];
const RULE_ACTIONS = ['lookup', 'goto', 'nop', 'unreachable', 'prohibit', 'blackhole'] as const;
const REJECT_ROUTES = ['unreachable', 'prohibit', 'blackhole', 'throw'] as const;
// Setup commands the kernel may refuse (duplicate prefix and metric, a goto to a missing priority...): counted, bounded
// in all and per kind (a kind tried 10 times or more), so no kind of setup is mostly refused.
const MAX_REFUSED_SHARE = 0.05;
const MAX_REFUSED_SHARE_PER_KIND = 0.25;
// Directed questions, asked every round on top of the random ones (two per generator in DIRECTED_GENERATORS): the
// cases the model does not support, and equal-metric defaults where the kernel skips the first.
const DIRECTED_PER_ROUND = 24;
// The share of questions in a case the model does not support: the bound on the "unknown" answers the test accepts.
const MAX_UNSUPPORTED_SHARE = 0.2;
// Destinations reserved for the unsupported cases: a rule with a port/uid selector, an IPv6 source-specific route,
// an IPv6 route through e4 (linkdown in odd rounds).
const SELECTOR_DST = { 4: '40.0.0.0/8', 6: 'fd30::/16' } as const;
const SOURCE_SPECIFIC6_DST = 'fd40::/16';
const LINKDOWN6_DST = 'fd20::/16';
// fib_select_default made certain: a rule sends DEFAULT_SELECT4_DST to table 103, which holds only equal-metric default
// routes through gateways of their own (.253); in even rounds the first one's gateway is INCOMPLETE.
const DEFAULT_SELECT4_DST = '50.0.0.0/8';
const DEFAULT_SELECT_TABLE = '103';
const gwAlt4 = (d: string) => `10.${d.slice(1)}.0.253`;
// Every reject and throw route type, each round, on a /16 of its own that a rule takes to main.
const REJECT_DST = { 4: (i: number) => `60.${i}.0.0/16`, 6: (i: number) => `fd60:${i}::/32` } as const;
const UNSUPPORTED_SELECTORS = [
  ['ipproto', 'tcp'],
  ['dport', '443'],
  ['uidrange', '1000-2000'],
  ['sport', '1024-2048'],
];
// IPv4 neighbour states of the gateways: INCOMPLETE (and FAILED, after the probes) makes fib_select_default skip an
// equal-metric default route, so the kernel answers with a later one.
const NEIGH_STATES = ['none', 'none', 'incomplete', 'stale', 'reachable'] as const;

type Rand = () => number;
const pick = <T>(r: Rand, a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
const chance = (r: Rand, p: number) => r() < p;
function shuffled<T>(r: Rand, a: readonly T[]): T[] {
  const out = [...a];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
const gw4 = (d: string) => `10.${d.slice(1)}.0.254`;
const gw6 = (d: string) => `fd00:${d.slice(1)}::fe`;
const local4 = (d: string) => `10.${d.slice(1)}.0.1`;
const local6 = (d: string) => `fd00:${d.slice(1)}::1`;

function randomIn(r: Rand, cidr: string): string {
  const [addr, lenText] = cidr.split('/');
  const len = Number(lenText);
  if (addr!.includes(':')) {
    // Anywhere in IPv6 means global unicast (2000::/3): never multicast or unspecified, which the model declines.
    if (len === 0) return randomIn(r, '2000::/3');
    const groups = expandV6(addr!);
    const bits = groups.map((g) => g.toString(2).padStart(16, '0')).join('');
    let out = bits.slice(0, len);
    while (out.length < 128) out += chance(r, 0.5) ? '1' : '0';
    const g = [];
    for (let i = 0; i < 8; i++) g.push(parseInt(out.slice(i * 16, i * 16 + 16), 2).toString(16));
    return g.join(':');
  }
  const n = addr!.split('.').reduce((a, b) => a * 256 + Number(b), 0);
  const host = len === 32 ? 0 : Math.floor(r() * 2 ** (32 - len));
  const base = len === 0 ? 0 : Math.floor(n / 2 ** (32 - len)) * 2 ** (32 - len);
  let v = base + host;
  if (len === 0) v = (Math.floor(r() * 200) + 11) * 2 ** 24 + Math.floor(r() * 2 ** 24);
  return [24, 16, 8, 0].map((s) => Math.floor(v / 2 ** s) % 256).join('.');
}

function expandV6(a: string): number[] {
  const [h, t] = a.includes('::') ? a.split('::') : [a, ''];
  const hs = h ? h.split(':').map((x) => parseInt(x, 16)) : [];
  const ts = t ? t.split(':').map((x) => parseInt(x, 16)) : [];
  return [...hs, ...new Array(8 - hs.length - ts.length).fill(0), ...ts];
}

/** The canonical text of a prefix: "default" and host routes without a length get one; IPv6 zero runs expanded. */
function canonPrefix(dst: string, family: 4 | 6): string {
  if (dst === 'default') return family === 4 ? '0.0.0.0/0' : '::/0';
  const [a, l] = dst.split('/');
  const len = l ?? (family === 4 ? '32' : '128');
  return family === 4
    ? `${a}/${len}`
    : `${expandV6(a!)
        .map((g) => g.toString(16))
        .join(':')}/${len}`;
}
const canonAddr = (a: string | null | undefined): string | null =>
  a
    ? a.includes(':')
      ? expandV6(a)
          .map((g) => g.toString(16))
          .join(':')
      : a
    : null;
const canonTable = (t: unknown): string =>
  t === undefined || t === null || String(t) === '254'
    ? 'main'
    : String(t) === '255'
      ? 'local'
      : String(t) === '253'
        ? 'default'
        : String(t);

// The errno behind iproute2's "RTNETLINK answers: ..." text.
const ERRNO: Array<[RegExp, string]> = [
  [/Network is unreachable/, 'ENETUNREACH'],
  [/No route to host/, 'EHOSTUNREACH'],
  [/Permission denied/, 'EACCES'],
  [/Invalid argument/, 'EINVAL'],
];

type Kernel =
  | { ok: true; type: string; dev: string; gateway: string | null; dst: string; table: string; metric: number }
  | { ok: false; errno: string; text: string };

async function ask(ns: Netns, q: RouteQuestion, fibmatch: boolean): Promise<Kernel> {
  const fam = q.dst.includes(':') ? 6 : 4;
  const args = [`-${fam}`, '-j', 'route', 'get', q.dst];
  if (q.src) args.push('from', q.src);
  if (q.iif) args.push('iif', q.iif);
  if (q.oif) args.push('oif', q.oif);
  if (q.mark !== null && q.mark !== undefined) args.push('mark', String(q.mark));
  if (fibmatch) args.push('fibmatch');
  const res = await ns.ip(args, { check: false });
  if (res.exitCode !== 0) {
    const text = res.stderr.trim();
    const errno = ERRNO.find(([re]) => re.test(text))?.[1];
    if (!errno) throw new Error(`ip ${args.join(' ')}: unexpected error text ${JSON.stringify(text)}`);
    return { ok: false, errno, text };
  }
  const list = JSON.parse(res.stdout) as Array<Record<string, unknown>>;
  if (list.length !== 1) throw new Error(`ip ${args.join(' ')} printed ${list.length} entries`);
  const o = list[0]!;
  return {
    ok: true,
    type: typeof o['type'] === 'string' ? o['type'] : 'unicast',
    dev: String(o['dev'] ?? ''),
    gateway: canonAddr(o['gateway'] as string | undefined),
    dst: canonPrefix(String(o['dst']), fam),
    table: canonTable(o['table']),
    metric: typeof o['metric'] === 'number' ? o['metric'] : 0,
  };
}

/** Field-by-field agreement of one model answer with the kernel's answers; null when the model declined. */
function decide(m: ModelAnswer, k: Kernel, fib: Kernel | null): { agree: boolean | null; why: string } {
  if (m.kind === 'unknown') return { agree: null, why: m.reason };
  if (!k.ok) {
    if (m.kind !== 'error') return { agree: false, why: `kernel ${k.errno}, model a route` };
    if (m.errno !== k.errno) return { agree: false, why: `errno: kernel ${k.errno}, model ${m.errno}` };
    if (fib && (fib.ok || fib.errno !== k.errno))
      return { agree: false, why: `fibmatch answered ${fib.ok ? fib.dst : fib.errno} where route get failed` };
    return { agree: true, why: '' };
  }
  if (m.kind !== 'route') return { agree: false, why: `kernel ${k.type} dev ${k.dev}, model ${m.errno}` };
  if (m.type !== k.type) return { agree: false, why: `type: kernel ${k.type}, model ${m.type}` };
  const devs = m.candidates.filter((c) => c.dev === k.dev);
  if (devs.length === 0) return { agree: false, why: `device: kernel ${k.dev}, model ${m.candidates.map((c) => c.dev).join('|')}` };
  if (!devs.some((c) => canonAddr(c.gateway) === k.gateway))
    return { agree: false, why: `gateway on ${k.dev}: kernel ${k.gateway}, model ${devs.map((c) => c.gateway).join('|')}` };
  if (fib) {
    if (!fib.ok) return { agree: false, why: `fibmatch failed (${fib.errno}) where route get answered` };
    if (!m.route) return { agree: false, why: `model names no FIB entry, kernel matched ${fib.dst}` };
    const fam = m.route.family;
    const want = { dst: canonPrefix(m.route.dst, fam), table: m.route.table, metric: m.route.metric };
    for (const f of ['dst', 'table', 'metric'] as const) {
      if (want[f] !== fib[f]) return { agree: false, why: `fibmatch ${f}: kernel ${fib[f]}, model ${want[f]}` };
    }
  }
  return { agree: true, why: '' };
}

interface Setup {
  tried: Map<string, number>;
  refused: Map<string, number>;
  refusedText: string[];
}

async function setup(ns: Netns, s: Setup, kind: string, args: string[]): Promise<boolean> {
  s.tried.set(kind, (s.tried.get(kind) ?? 0) + 1);
  const r = await ns.ip(args, { check: false });
  if (r.exitCode !== 0) {
    s.refused.set(kind, (s.refused.get(kind) ?? 0) + 1);
    if (s.refusedText.length < 40) s.refusedText.push(`${args.join(' ')}: ${r.stderr.trim()}`);
    return false;
  }
  return true;
}

/** Prefixes of this round's reject routes, so some questions land in them. */
type Targets = Record<4 | 6, string[]>;

/** What the test knows of a round's configuration, to classify questions without asking the model. */
interface Round {
  targets: Targets;
  /** e4 has no carrier: its nexthops are linkdown */
  linkdown: boolean;
  /** an IPv6 rule with a source selector was added (an IPv6 question without a source is then not modelled) */
  v6SourceRule: boolean;
}

async function randomConfig(ns: Netns, peer: Netns, r: Rand, s: Setup, round: number): Promise<Round> {
  const targets: Targets = { 4: [], 6: [] };
  let v6SourceRule = false;
  // Flush everything a previous round added (custom rules, non-main tables, main routes not made by the kernel).
  for (const fam of ['-4', '-6']) {
    await ns.ip([fam, 'rule', 'flush'], { check: false });
    for (const t of ['100', '101', '102', DEFAULT_SELECT_TABLE]) await ns.ip([fam, 'route', 'flush', 'table', t], { check: false });
    await ns.ip([fam, 'route', 'flush', 'table', 'main', 'proto', 'static'], { check: false });
    await ns.ip([fam, 'route', 'flush', 'table', 'main', 'proto', 'boot'], { check: false });
    // Flush removes main (and default): put them back so the kernel's rule list is the usual one.
    await ns.ip([fam, 'rule', 'add', 'priority', '32766', 'lookup', 'main']);
    if (fam === '-4') await ns.ip([fam, 'rule', 'add', 'priority', '32767', 'lookup', 'default']);
    await ns.ip([fam, 'neigh', 'flush', 'all'], { check: false });
  }
  // e4's carrier: its peer end down marks e4's nexthops linkdown; whether they are ignored is a sysctl.
  // Odd rounds: e4 has no carrier and the IPv4 default route leaves through it.
  const linkdown = round % 2 === 1;
  await peer.ip(['link', 'set', 'p4', linkdown ? 'down' : 'up']);
  // Linkdown nexthops used in rounds 1, 5 and 9; ignored in 3 (e4's switch) and 7 (e4's and all's).
  await ns.sysctl('net.ipv4.conf.e4.ignore_routes_with_linkdown', round % 4 === 3 ? 1 : 0);
  await ns.sysctl('net.ipv4.conf.all.ignore_routes_with_linkdown', round === 7 ? 1 : 0);
  await ns.sysctl('net.ipv6.conf.e4.ignore_routes_with_linkdown', round % 4 === 3 ? 1 : 0);
  // The unsupported cases, on destinations of their own so they do not hide the random questions' answers.
  const [selector, value] = UNSUPPORTED_SELECTORS[round % UNSUPPORTED_SELECTORS.length]!;
  for (const fam of [4, 6] as const) {
    const sel = [`-${fam}`, 'rule', 'add', 'priority', '50', 'to', SELECTOR_DST[fam], selector!, value!, 'lookup', '100'];
    await setup(ns, s, `rule-${selector}${fam}`, sel);
  }
  await setup(ns, s, 'route-source-specific6', [
    '-6',
    'route',
    'add',
    SOURCE_SPECIFIC6_DST,
    'from',
    'fd00:9::/64',
    'via',
    gw6('e1'),
    'dev',
    'e1',
  ]);
  await setup(ns, s, 'route-via-e4-6', ['-6', 'route', 'add', LINKDOWN6_DST, 'via', gw6('e4'), 'dev', 'e4', 'metric', '5']);
  // Rules that take these destinations to main before any random rule can divert them.
  for (const [prio, dst] of [
    ['70', LINKDOWN6_DST],
    ['71', SOURCE_SPECIFIC6_DST],
  ]) {
    await setup(ns, s, 'rule-directed6', ['-6', 'rule', 'add', 'priority', prio!, 'to', dst!, 'lookup', 'main']);
  }
  await setup(ns, s, 'rule-directed4', ['-4', 'rule', 'add', 'priority', '60', 'to', DEFAULT_SELECT4_DST, 'lookup', DEFAULT_SELECT_TABLE]);
  for (const fam of [4, 6] as const) {
    const all = fam === 4 ? '60.0.0.0/8' : 'fd60::/16';
    await setup(ns, s, `rule-directed${fam}`, [`-${fam}`, 'rule', 'add', 'priority', '72', 'to', all, 'lookup', 'main']);
    for (const [i, type] of REJECT_ROUTES.entries()) {
      await setup(ns, s, `route-${type}${fam}-directed`, [`-${fam}`, 'route', 'add', type, REJECT_DST[fam](i + 1), 'metric', '5']);
    }
  }
  // Table 103: two or three equal-metric defaults through distinct devices.
  const alt = shuffled(r, DEVS).slice(0, 2 + Math.floor(r() * 2));
  for (const [i, d] of alt.entries()) {
    const state = i === 0 && round % 2 === 0 ? 'incomplete' : pick(r, ['none', 'stale', 'reachable']);
    if (state !== 'none')
      await ns.ip([
        '-4',
        'neigh',
        'replace',
        gwAlt4(d),
        'dev',
        d,
        ...(state === 'incomplete' ? [] : ['lladdr', '02:00:00:00:01:00']),
        'nud',
        state,
      ]);
    const verb = i === 0 ? 'add' : 'append';
    await setup(ns, s, 'equal-default4-table103', [
      '-4',
      'route',
      verb,
      'default',
      'via',
      gwAlt4(d),
      'dev',
      d,
      'table',
      DEFAULT_SELECT_TABLE,
      'metric',
      '500',
    ]);
  }
  for (const fam of [4, 6] as const) {
    const pool = fam === 4 ? V4_POOL : V6_POOL;
    const devs = fam === 4 ? V4_DEVS : DEVS;
    const gw = fam === 4 ? gw4 : gw6;
    const d0 = fam === 4 && (linkdown || chance(r, 0.3)) ? 'e4' : pick(r, devs);
    await setup(ns, s, `default${fam}`, [`-${fam}`, 'route', 'add', 'default', 'via', gw(d0), 'dev', d0, 'metric', '500']);
    // Equal-metric default routes (IPv4: fib_select_default; IPv6: appended routes become siblings). IPv4 has them in
    // every round, and half the time the first one's gateway is INCOMPLETE, so the kernel picks a later one.
    if (fam === 4) {
      for (const [i, d] of V4_DEVS.entries()) {
        const state = d === d0 ? (chance(r, 0.5) ? 'incomplete' : pick(r, NEIGH_STATES)) : pick(r, NEIGH_STATES);
        if (state === 'none') continue;
        const lladdr = state === 'incomplete' ? [] : ['lladdr', `02:00:00:00:00:0${i}`];
        await ns.ip(['-4', 'neigh', 'replace', gw4(d), 'dev', d, ...lladdr, 'nud', state]);
      }
    }
    const others = shuffled(
      r,
      devs.filter((x) => x !== d0),
    );
    for (let i = 0; i < (fam === 4 || chance(r, 0.6) ? 1 + Math.floor(r() * 2) : 0); i++) {
      const d = others[i]!;
      await setup(ns, s, `equal-default${fam}`, [`-${fam}`, 'route', 'append', 'default', 'via', gw(d), 'dev', d, 'metric', '500']);
    }
    // One reject route per round in main, the type in turn, so every type is met whatever the seed.
    const forced = REJECT_ROUTES[(round + fam) % REJECT_ROUTES.length]!;
    const forcedDst = pick(
      r,
      pool.filter((p) => !p.endsWith('/0')),
    );
    await setup(ns, s, `route-${forced}${fam}`, [`-${fam}`, 'route', 'add', forced, forcedDst, 'table', 'main', 'metric', '5']);
    targets[fam].push(forcedDst);
    const nroutes = 10 + Math.floor(r() * 14);
    // A prefix, table and metric already used this round would be refused ("File exists"): drawn again, up to 4 times.
    // IPv6 stores metric 0 as 1024.
    const used = new Set<string>();
    const key = (dst: string, table: string, metric: string) => `${dst}|${table}|${fam === 6 && metric === '0' ? '1024' : metric}`;
    for (let i = 0; i < nroutes; i++) {
      let [dst, table, metric] = ['', '', ''];
      for (let t = 0; t < 4 && (t === 0 || used.has(key(dst, table, metric))); t++) {
        dst = pick(r, pool);
        table = pick(r, TABLES);
        metric = String(pick(r, [0, 10, 100, 1024]));
      }
      used.add(key(dst, table, metric));
      const kind = r();
      // table and metric first: iproute2 reads everything after the first "nexthop" as nexthop arguments.
      const args = [`-${fam}`, 'route', 'add'];
      const where = ['table', table, 'metric', metric];
      let label: string;
      if (kind < 0.2) {
        label = pick(r, REJECT_ROUTES);
        args.push(label, dst, ...where);
        targets[fam].push(dst);
      } else if (kind < 0.35) {
        const a = pick(r, devs);
        const b = pick(
          r,
          devs.filter((x) => x !== a),
        );
        label = 'multipath';
        args.push(
          dst,
          ...where,
          'nexthop',
          'via',
          gw(a),
          'dev',
          a,
          'weight',
          String(1 + Math.floor(r() * 3)),
          'nexthop',
          'via',
          gw(b),
          'dev',
          b,
        );
      } else if (kind < 0.5) {
        label = 'dev';
        args.push(dst, 'dev', pick(r, devs), ...where);
      } else {
        const d = pick(r, devs);
        label = 'via';
        args.push(dst, 'via', gw(d), 'dev', d, ...where);
        // A preferred source on the route: it must not change which device or gateway the kernel picks.
        if (chance(r, 0.3)) {
          label = 'via-src';
          args.push('src', fam === 4 ? local4(pick(r, devs)) : local6(pick(r, devs)));
        }
      }
      await setup(ns, s, `route-${label}${fam}`, args);
    }
    const nrules = 2 + Math.floor(r() * 7);
    const prios: number[] = [];
    for (let i = 0; i < nrules; i++) prios.push(100 + Math.floor(r() * 300) * 10);
    prios.sort((a, b) => a - b);
    for (let i = 0; i < prios.length; i++) {
      const args = [`-${fam}`, 'rule', 'add', 'priority', String(prios[i])];
      // The first rule (its action taken in turn) selects by destination only, so its action is met by questions.
      const first = i === 0;
      if (!first && chance(r, 0.15)) args.push('not');
      // Every third round has no IPv6 source selector, so IPv6 questions without a source are modelled there.
      const withSource = !first && !(fam === 6 && round % 3 === 2) && chance(r, 0.35);
      if (withSource)
        args.push(
          'from',
          fam === 4
            ? pick(r, ['10.9.0.1', '10.9.0.0/24', '10.1.0.0/16', '20.0.0.0/8'])
            : pick(r, ['fd00:9::1', 'fd00:9::/64', 'fd00:1::/32']),
        );
      if (first || chance(r, 0.35))
        args.push(
          'to',
          pick(
            r,
            pool.filter((p) => !p.endsWith('/0')),
          ),
        );
      if (!first && chance(r, 0.25)) args.push('fwmark', `0x${pick(r, MARKS).toString(16)}${chance(r, 0.5) ? '/0xf0' : ''}`);
      if (!first && chance(r, 0.2)) args.push('iif', pick(r, ['lo', ...devs]));
      if (!first && chance(r, 0.15)) args.push('oif', pick(r, devs));
      // The first rule's action is taken in turn, so every action is met whatever the seed.
      const a = i === 0 ? ((round + fam) % RULE_ACTIONS.length) / RULE_ACTIONS.length + 0.01 : r();
      let action: string;
      if (a < 1 / 6) {
        action = 'lookup';
        args.push('lookup', pick(r, TABLES));
      } else if (a < 2 / 6 && i === 0) {
        action = 'goto';
        args.push('goto', String(pick(r, prios.slice(1))));
      } else if (a < 3 / 6 && i === 0) {
        action = 'nop';
        args.push('nop');
      } else if (i === 0) {
        action = RULE_ACTIONS[Math.floor(a * 6)]!;
        args.push(action);
      } else if (a < 0.6) {
        action = 'lookup';
        args.push('lookup', pick(r, TABLES));
        if (chance(r, 0.25)) args.push('suppress_prefixlength', pick(r, ['0', '8', '16']));
      } else if (a < 0.75 && i + 1 < prios.length) {
        action = 'goto';
        args.push('goto', String(chance(r, 0.8) ? pick(r, prios.slice(i + 1)) : prios[i]! + 5));
      } else if (a < 0.88) {
        action = 'nop';
        args.push('nop');
      } else {
        action = pick(r, ['unreachable', 'prohibit', 'blackhole']);
        args.push(action);
      }
      if ((await setup(ns, s, `rule-${action}${fam}`, args)) && fam === 6 && withSource) v6SourceRule = true;
    }
  }
  for (const d of V4_DEVS) {
    await ns.sysctl(`net.ipv4.conf.${d}.rp_filter`, pick(r, [0, 0, 1, 2]));
    await ns.sysctl(`net.ipv4.conf.${d}.src_valid_mark`, pick(r, [0, 1]));
  }
  await ns.sysctl('net.ipv4.conf.all.rp_filter', pick(r, [0, 0, 0, 1, 2]));
  await ns.sysctl('net.ipv4.conf.all.src_valid_mark', pick(r, [0, 0, 1]));
  return { targets, linkdown, v6SourceRule };
}

const V4_LOCAL = ['10.0.0.1', '10.1.0.1', '10.2.0.1', '10.3.0.1', '10.4.0.1', '10.9.0.1', '10.9.0.2'];
const V6_LOCAL = ['fd00:0::1', 'fd00:1::1', 'fd00:2::1', 'fd00:3::1', 'fd00:9::1'];

function randomQuestion(r: Rand, targets: Targets): RouteQuestion {
  const fam = chance(r, 0.55) ? 4 : 6;
  const pool = fam === 4 ? V4_POOL : V6_POOL;
  const locals = fam === 4 ? V4_LOCAL : V6_LOCAL;
  const devs = fam === 4 ? V4_DEVS : DEVS;
  // Neighbours on the connected subnets, never their broadcast address (broadcast routes are not modelled).
  const neighbour = () =>
    fam === 4
      ? `10.${Math.floor(r() * devs.length)}.0.${2 + Math.floor(r() * 252)}`
      : randomIn(r, `fd00:${Math.floor(r() * devs.length)}::/64`);
  const mark = chance(r, 0.3) ? pick(r, MARKS) : null;
  if (chance(r, 0.18)) {
    // An input lookup: a request for a local address arriving on an interface.
    const src = randomIn(
      r,
      pick(
        r,
        pool.filter((p) => !p.endsWith('/128') && !p.endsWith('/32')),
      ),
    );
    return { dst: pick(r, locals), src, iif: pick(r, devs), mark };
  }
  const reject = targets[fam];
  const roll = r();
  const dst =
    roll < 0.2 && reject.length > 0
      ? randomIn(r, pick(r, reject))
      : roll < 0.8
        ? randomIn(r, pick(r, pool))
        : roll < 0.9
          ? neighbour()
          : pick(r, locals);
  const srcRoll = r();
  const oif = chance(r, 0.18) ? pick(r, devs) : null;
  // IPv6: some sources are not local, which IPv6 output lookups accept; an oif question always has a source (one
  // without is a strict-interface lookup the model declines: asked among the unsupported questions).
  const src =
    fam === 6
      ? srcRoll < 0.7 || (oif && srcRoll >= 0.9)
        ? pick(r, locals)
        : srcRoll < 0.9
          ? randomIn(r, 'fd10::/16')
          : null
      : srcRoll < 0.7
        ? pick(r, locals)
        : srcRoll < 0.8
          ? randomIn(r, '20.0.0.0/8')
          : null;
  return { dst, src, oif, mark };
}

const DIRECTED_GENERATORS = [
  'v6-oif-without-source',
  'loopback-source4',
  'input-from-local-source',
  'v6-input-not-local',
  'rule-selector',
  'v6-source-specific-route',
  'v6-via-e4',
  'v6-via-e4', // twice: it is unsupported in odd rounds only
  'default-select4',
  'default-select4',
  'reject-route',
  'reject-route',
] as const;

/** A question in one of the cases the model declines (v6-via-e4: only while e4 has no carrier), or one through table 103's equal-metric defaults. */
function directedQuestion(r: Rand, kind: (typeof DIRECTED_GENERATORS)[number]): RouteQuestion {
  const mark = chance(r, 0.3) ? pick(r, MARKS) : null;
  const fam = chance(r, 0.5) ? 4 : 6;
  switch (kind) {
    case 'v6-oif-without-source':
      return { dst: randomIn(r, pick(r, V6_POOL)), src: null, oif: pick(r, DEVS), mark };
    case 'loopback-source4':
      return { dst: randomIn(r, pick(r, V4_POOL)), src: '127.0.0.1', mark };
    case 'input-from-local-source':
      return fam === 4
        ? { dst: pick(r, V4_LOCAL), src: pick(r, V4_LOCAL), iif: pick(r, V4_DEVS), mark }
        : { dst: pick(r, V6_LOCAL), src: pick(r, V6_LOCAL), iif: pick(r, DEVS), mark };
    case 'v6-input-not-local':
      return { dst: randomIn(r, pick(r, V6_POOL)), src: randomIn(r, 'fd10::/16'), iif: pick(r, DEVS), mark };
    case 'rule-selector':
      return { dst: randomIn(r, SELECTOR_DST[fam]), src: pick(r, fam === 4 ? V4_LOCAL : V6_LOCAL), mark };
    case 'v6-source-specific-route':
      return { dst: randomIn(r, SOURCE_SPECIFIC6_DST), src: pick(r, V6_LOCAL), mark };
    case 'v6-via-e4':
      return { dst: randomIn(r, LINKDOWN6_DST), src: chance(r, 0.8) ? pick(r, V6_LOCAL) : null, mark };
    case 'reject-route':
      return {
        dst: randomIn(r, REJECT_DST[fam](1 + Math.floor(r() * REJECT_ROUTES.length))),
        src: pick(r, fam === 4 ? V4_LOCAL : V6_LOCAL),
        mark,
      };
    case 'default-select4':
      return { dst: randomIn(r, DEFAULT_SELECT4_DST), src: chance(r, 0.7) ? pick(r, V4_LOCAL) : null, mark };
  }
}

const inV6 = (a: string, cidr: string) => {
  const [p, l] = cidr.split('/');
  const bits = (x: string) =>
    expandV6(x)
      .map((g) => g.toString(2).padStart(16, '0'))
      .join('');
  return a.includes(':') && bits(a).slice(0, Number(l)) === bits(p!).slice(0, Number(l));
};

/** The case the model declines that a question falls in, by the test's own reading of it; null: supported. */
function unsupportedCase(q: RouteQuestion, round: Round): string | null {
  const v6 = q.dst.includes(':');
  if (q.iif) {
    if ((v6 ? V6_LOCAL : V4_LOCAL).includes(q.src ?? '')) return 'input-from-local-source';
    if (v6 && !V6_LOCAL.includes(q.dst)) return 'v6-input-not-local';
    return null;
  }
  if (!v6 && q.src === '127.0.0.1') return 'loopback-source4';
  if (!v6 && q.dst.startsWith('40.')) return 'rule-selector';
  if (v6 && inV6(q.dst, SELECTOR_DST[6])) return 'rule-selector';
  if (v6 && inV6(q.dst, SOURCE_SPECIFIC6_DST)) return 'v6-source-specific-route';
  if (v6 && inV6(q.dst, LINKDOWN6_DST) && round.linkdown) return 'v6-linkdown-nexthop';
  if (v6 && q.oif && !q.src) return 'v6-oif-without-source';
  if (v6 && !q.src && round.v6SourceRule) return 'v6-no-source-with-source-rules';
  return null;
}

describeAsRoot('route model vs kernel (differential)', () => {
  let lab: NetnsLab;
  let ns: Netns;
  let peer: Netns;
  beforeAll(async () => {
    lab = new NetnsLab('ardiff');
    ns = await lab.add('rt');
    peer = await lab.add('peer');
    for (const [i, d] of V4_DEVS.entries()) {
      await lab.link(ns, d, peer, `p${i}`);
      await ns.ip(['addr', 'add', `${local4(d)}/24`, 'dev', d]);
      await ns.ip(['-6', 'addr', 'add', `${local6(d)}/64`, 'dev', d, 'nodad']);
    }
    await ns.ip(['addr', 'add', '10.9.0.1/32', 'dev', 'e1']);
    await ns.ip(['addr', 'add', '10.9.0.2/32', 'dev', 'lo']);
    await ns.ip(['-6', 'addr', 'add', 'fd00:9::1/128', 'dev', 'e1', 'nodad']);
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  const QUESTIONS = ROUNDS * (QUESTIONS_PER_ROUND + DIRECTED_PER_ROUND);
  it(`agrees with ip route get on ${QUESTIONS} random and directed questions (seed ${SEED})`, { timeout: 400_000 }, async () => {
    const r = prng(SEED);
    const ip = new IpRunner({ netns: ns.name });
    const s: Setup = { tried: new Map(), refused: new Map(), refusedText: [] };
    const tally = { agree: 0, unknown: 0, mismatch: 0, fibmatchChecked: 0 };
    const mismatches: string[] = [];
    const unknownReasons = new Map<string, number>();
    // Questions in a case the model declines: how many were asked, and how many it declined (the rest it answered,
    // e.g. a rule decided before the unsupported part mattered, and the answer agreed).
    const unsupportedAsked = new Map<string, number>();
    const unsupportedDeclined = new Map<string, number>();
    const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
    const covered = new Map<string, number>();
    const cover = (k: string) => covered.set(k, (covered.get(k) ?? 0) + 1);
    for (let round = 0; round < ROUNDS; round++) {
      const config = await randomConfig(ns, peer, r, s, round);
      const snap = await readHostState({ ip, proc: netnsProcReader(ns.name), netfilter: null });
      const model = new RouteModel(snap);
      const linkdown = snap.routes.filter((x) => x.nexthops.some((n) => n.flags.includes('linkdown')));
      if (linkdown.length > 0) cover('config:linkdown-nexthops');
      for (let i = 0; i < QUESTIONS_PER_ROUND + DIRECTED_PER_ROUND; i++) {
        const q =
          i < QUESTIONS_PER_ROUND
            ? randomQuestion(r, config.targets)
            : directedQuestion(r, DIRECTED_GENERATORS[(i - QUESTIONS_PER_ROUND) % DIRECTED_GENERATORS.length]!);
        const unsupported = unsupportedCase(q, config);
        if (unsupported) bump(unsupportedAsked, unsupported);
        const k = await ask(ns, q, false);
        const m = model.lookup(q);
        // fibmatch names the FIB entry of an output lookup; with an oif the model may answer "on-link" without one.
        const fib = q.iif || q.oif ? null : await ask(ns, q, true);
        if (fib) tally.fibmatchChecked++;
        const d = decide(m, k, fib);
        if (d.agree === null && unsupported) {
          bump(unsupportedDeclined, unsupported);
          continue;
        }
        if (d.agree === null) {
          tally.unknown++;
          const reason = d.why.replace(/[0-9a-f:.]{6,}/g, 'X');
          unknownReasons.set(reason, (unknownReasons.get(reason) ?? 0) + 1);
          continue;
        }
        if (!d.agree) {
          tally.mismatch++;
          if (mismatches.length < 15) {
            mismatches.push(
              `round ${round} ${JSON.stringify(q)}: ${d.why}; kernel ${JSON.stringify(k)} model ${JSON.stringify({ ...m, trace: m.trace.map((t) => `${t.rule.priority}:${t.outcome}`) })}`,
            );
          }
          continue;
        }
        tally.agree++;
        if (unsupported) continue;
        // Coverage of agreeing answers only: what the comparison actually checked.
        const fam = q.dst.includes(':') ? '6' : '4';
        const dir = q.iif ? 'in' : q.oif ? 'oif' : 'out';
        cover(`${dir}${fam}:${k.ok ? k.type : k.errno}`);
        if (q.src && !(fam === '4' ? V4_LOCAL : V6_LOCAL).includes(q.src) && dir !== 'in') cover(`${dir}${fam}:foreign-source`);
        if (!q.src && dir !== 'in') cover(`${dir}${fam}:no-source`);
        if (fam === '6' && inV6(q.dst, LINKDOWN6_DST) && k.ok) cover('route-via-e4-6-carrier-up');
        for (const t of m.trace) {
          const action = t.rule.action === 'table' ? 'lookup' : t.rule.action;
          if (t.outcome !== 'no-match' && t.rule.priority !== 0 && t.rule.priority < 32766) cover(`rule:${action}`);
        }
        if (m.kind === 'error' && m.route && m.route.type !== 'local') cover(`route:${m.route.type}${fam}`);
        if (m.kind === 'error' && m.route && m.route.type !== 'local') cover(`route:${m.route.type}`);
        if (m.trace.some((t) => t.outcome === 'throw')) cover(`route:throw${fam}`);
        if (m.kind === 'route' && m.route) {
          if (m.route.dst === 'default' && m.candidates.length > 1) cover(`equal-metric-default${fam}`);
          // fib_select_default skipped the first default route (its gateway's neighbour INCOMPLETE or FAILED).
          const single = m.route.nexthops.length === 1;
          if (
            fam === '4' &&
            single &&
            m.route.dst === 'default' &&
            m.candidates.length > 1 &&
            k.ok &&
            k.gateway !== m.route.nexthops[0]!.gateway
          )
            cover('equal-metric-default4:kernel-chose-a-later-route');
          if (m.candidates.length > 1) cover('multi-candidate');
          if (m.route.prefsrc && snap.routes.some((x) => x === m.route && x.protocol !== 'kernel')) cover('route-src');
          if (linkdown.includes(m.route)) cover('linkdown-route-chosen');
        }
        if (linkdown.some((x) => x.family === 4 && q.dst.includes('.'))) cover('question-with-linkdown-routes4');
        if (q.iif && fam === '4' && q.mark !== null && q.mark !== undefined) {
          const svm = Math.max(snap.sysctls.srcValidMark['all'] ?? 0, snap.sysctls.srcValidMark[q.iif] ?? 0);
          if (svm > 0 && model.effectiveRpFilter(q.iif) > 0) cover('src_valid_mark-with-rp_filter');
        }
      }
    }
    const declined = [...unsupportedDeclined.values()].reduce((a, b) => a + b, 0);
    const asked = [...unsupportedAsked.values()].reduce((a, b) => a + b, 0);
    const total = tally.agree + tally.unknown + tally.mismatch + declined;
    const tried = [...s.tried.values()].reduce((a, b) => a + b, 0);
    const refused = [...s.refused.values()].reduce((a, b) => a + b, 0);
    const perKind = [...s.tried].sort().map(([k, n]) => `${k} ${s.refused.get(k) ?? 0}/${n}`);
    console.log(
      `differential seed=${SEED}: ${JSON.stringify({ ...tally, declined })}; unknown reasons: ${JSON.stringify([...unknownReasons])}; ` +
        `unsupported asked/declined: ${JSON.stringify([...unsupportedAsked].sort().map(([k, n]) => `${k} ${n}/${unsupportedDeclined.get(k) ?? 0}`))}; ` +
        `setup: ${refused}/${tried} refused ${JSON.stringify(perKind)}; covered: ${JSON.stringify([...covered].sort())}\nrefused: ${s.refusedText.join('\n')}`,
    );
    expect(mismatches, `replay with ASYMROUTE_DIFF_SEED=${SEED}`).toEqual([]);
    expect(total).toBe(QUESTIONS);
    // "unknown" is accepted only for the unsupported cases, and those stay a bounded share of the questions.
    if (AT_CI_SEED) expect([...unknownReasons]).toEqual([]);
    else expect(tally.unknown / total).toBeLessThan(0.1);
    expect(asked / total).toBeLessThan(MAX_UNSUPPORTED_SHARE);
    if (AT_CI_SEED) {
      // Each unsupported case was produced, and the model declined it (rather than answering) at least three times.
      const cases = [
        'v6-oif-without-source',
        'v6-no-source-with-source-rules',
        'loopback-source4',
        'input-from-local-source',
        'v6-input-not-local',
        'rule-selector',
        'v6-source-specific-route',
        'v6-linkdown-nexthop',
      ];
      const unmet = cases
        .filter((c) => (unsupportedDeclined.get(c) ?? 0) < 3)
        .map((c) => `${c}: ${unsupportedDeclined.get(c) ?? 0} declined`);
      expect(unmet).toEqual([]);
    }
    expect(tally.fibmatchChecked).toBeGreaterThan(300);
    expect(refused / tried, s.refusedText.join('\n')).toBeLessThan(MAX_REFUSED_SHARE);
    const mostlyRefused = [...s.tried].filter(([k, n]) => n >= 10 && (s.refused.get(k) ?? 0) / n >= MAX_REFUSED_SHARE_PER_KIND);
    expect(mostlyRefused, perKind.join(', ')).toEqual([]);
    // What the generator produced and the comparison checked, not just what it was asked to produce.
    const atLeast: Array<[string, number]> = [
      ['out4:unicast', 50],
      ['out6:unicast', 30],
      ['out4:local', 5],
      ['out6:local', 5],
      ['out4:ENETUNREACH', 5],
      ['out4:EACCES', 3],
      ['out4:EINVAL', 3],
      ['in4:local', 20],
      ['in4:EINVAL', 3],
      ['in6:local', 20],
      ['oif4:unicast', 10],
      ['oif6:unicast', 10],
      ['out4:foreign-source', 3],
      ['out6:foreign-source', 3],
      ['out6:no-source', 5],
      ['route-via-e4-6-carrier-up', 3],
      ['equal-metric-default4:kernel-chose-a-later-route', 10],
      ...RULE_ACTIONS.map((a): [string, number] => [`rule:${a}`, 3]),
      ...['unreachable', 'prohibit', 'blackhole'].map((t): [string, number] => [`route:${t}`, 5]),
      ...['unreachable', 'prohibit', 'blackhole', 'throw'].flatMap((t): Array<[string, number]> => [
        [`route:${t}4`, 3],
        [`route:${t}6`, 3],
      ]),
      ['equal-metric-default4', 3],
      ['equal-metric-default6', 3],
      ['multi-candidate', 10],
      ['route-src', 3],
      ['config:linkdown-nexthops', 2],
      ['linkdown-route-chosen', 2],
      ['question-with-linkdown-routes4', 20],
      ['src_valid_mark-with-rp_filter', 3],
    ];
    const short = atLeast.filter(([k, n]) => (covered.get(k) ?? 0) < n).map(([k, n]) => `${k}: ${covered.get(k) ?? 0} < ${n}`);
    if (AT_CI_SEED) expect(short).toEqual([]);
    else if (short.length > 0) console.log(`seed ${SEED} covered less than the CI seed: ${short.join(', ')}`);
  });
});
