// Differential test of forwarded lookups, the question a DNAT'd backend's reply poses: `ip route get CLIENT from
// POD iif DEV mark M`. Random rules (iif, fwmark, from), routes and per-device forwarding and rp_filter in a
// namespace; the kernel answers, and the route model must give the same errno, or the same device and gateway.
// Agreement is decided here, field by field, not by the production comparison.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { RouteModel, type ModelAnswer } from '../../agent/analysis/route-model.js';
import type { RouteQuestion } from '../../agent/model/route-question.js';
import { NetnsLab, type Netns } from '../../agent/netns/netns.js';
import { IpRunner, type KernelRouteAnswer } from '../../agent/sources/ip-command.js';
import { netnsProcReader, readHostState } from '../../agent/sources/host-state.js';
import { describeAsRoot, prng } from '../helpers/root.js';

const SEED = Number(process.env['ASYMROUTE_FWD_SEED'] ?? 20261127);
const ROUNDS = 6;
const QUESTIONS_PER_ROUND = 80;
const DEVS = ['e0', 'e1', 'e2', 'e3'];
const TABLES = ['main', '100', '101'];
const MARKS = [0x64, 0x65, 0x4000];
const DSTS = ['0.0.0.0/0', '203.0.113.0/24', '203.0.113.128/25', '198.51.100.0/24', '10.2.0.0/24', '10.244.0.0/16'];

type Rand = () => number;
const pick = <T>(r: Rand, a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
const chance = (r: Rand, p: number) => r() < p;
const gw = (d: string) => `10.${d.slice(1)}.0.254`;

function addrIn(r: Rand, cidr: string): string {
  if (cidr === '0.0.0.0/0')
    return `${pick(r, [11, 45, 99, 150])}.${Math.floor(r() * 256)}.${Math.floor(r() * 256)}.${1 + Math.floor(r() * 250)}`;
  const [a, len] = cidr.split('/');
  const o = a!.split('.').map(Number);
  if (len === '16') return `${o[0]}.${o[1]}.${Math.floor(r() * 256)}.${1 + Math.floor(r() * 250)}`;
  if (len === '25') return `${o[0]}.${o[1]}.${o[2]}.${129 + Math.floor(r() * 120)}`;
  return `${o[0]}.${o[1]}.${o[2]}.${1 + Math.floor(r() * 250)}`;
}

async function randomConfig(ns: Netns, r: Rand, refused: { n: number; of: number }): Promise<void> {
  const run = async (args: string[]) => {
    refused.of++;
    if ((await ns.ip(args, { check: false })).exitCode !== 0) refused.n++;
  };
  await ns.ip(['-4', 'rule', 'flush'], { check: false });
  for (const t of ['100', '101']) await ns.ip(['-4', 'route', 'flush', 'table', t], { check: false });
  await ns.ip(['-4', 'route', 'flush', 'table', 'main', 'proto', 'boot'], { check: false });
  await ns.ip(['-4', 'rule', 'add', 'priority', '32766', 'lookup', 'main']);
  await ns.ip(['-4', 'rule', 'add', 'priority', '32767', 'lookup', 'default']);
  const d0 = pick(r, DEVS);
  // Without a default route in some rounds, so that "no route" (ENETUNREACH) is asked too.
  if (chance(r, 0.6)) await run(['-4', 'route', 'add', 'default', 'via', gw(d0), 'dev', d0, 'metric', '500']);
  for (let i = 0, n = 6 + Math.floor(r() * 8); i < n; i++) {
    const dst = pick(r, DSTS);
    const where = ['table', pick(r, TABLES), 'metric', String(pick(r, [0, 10, 100]))];
    const kind = r();
    const d = pick(r, DEVS);
    if (kind < 0.25) await run(['-4', 'route', 'add', pick(r, ['unreachable', 'prohibit', 'blackhole']), dst, ...where]);
    else if (kind < 0.5) {
      const e = pick(r, DEVS);
      await run(['-4', 'route', 'add', dst, ...where, 'nexthop', 'via', gw(d), 'dev', d, 'nexthop', 'via', gw(e), 'dev', e]);
    } else await run(['-4', 'route', 'add', dst, 'via', gw(d), 'dev', d, ...where]);
  }
  for (let i = 0, n = 1 + Math.floor(r() * 4); i < n; i++) {
    const args = ['-4', 'rule', 'add', 'priority', String(1000 + i * 100)];
    if (chance(r, 0.5)) args.push('fwmark', `0x${pick(r, MARKS).toString(16)}`);
    if (chance(r, 0.4)) args.push('iif', pick(r, DEVS));
    if (chance(r, 0.3)) args.push('from', pick(r, ['10.244.0.0/16', '10.244.1.0/24', '172.16.0.0/12']));
    args.push(...(chance(r, 0.85) ? ['lookup', pick(r, ['100', '101'])] : [pick(r, ['unreachable', 'prohibit', 'blackhole'])]));
    await run(args);
  }
  await ns.sysctl('net.ipv4.ip_forward', 1);
  for (const d of DEVS) {
    await ns.sysctl(`net.ipv4.conf.${d}.forwarding`, chance(r, 0.8) ? 1 : 0);
    await ns.sysctl(`net.ipv4.conf.${d}.rp_filter`, pick(r, [0, 0, 0, 1, 2]));
  }
  await ns.sysctl('net.ipv4.conf.all.rp_filter', pick(r, [0, 0, 0, 1]));
}

/** The two answers compared field by field: errno, or device and gateway (any multipath candidate). */
function compare(k: KernelRouteAnswer, m: ModelAnswer): 'agree' | 'unknown' | string {
  if (m.kind === 'unknown') return 'unknown';
  if (!k.ok)
    return m.kind === 'error' && m.errno === k.errno ? 'agree' : `kernel ${k.errno}, model ${m.kind === 'error' ? m.errno : 'a route'}`;
  if (m.kind !== 'route') return `kernel dev ${k.route.dev}, model error ${m.errno}`;
  if (k.route.type !== m.type) return `type: kernel ${k.route.type}, model ${m.type}`;
  const hit = m.candidates.find((c) => c.dev === k.route.dev && c.gateway === k.route.gateway);
  if (!hit)
    return `kernel via ${k.route.gateway} dev ${k.route.dev}, model ${m.candidates.map((c) => `via ${c.gateway} dev ${c.dev}`).join(' | ')}`;
  return 'agree';
}

describeAsRoot('route model vs kernel: forwarded replies', () => {
  let lab: NetnsLab;
  let ns: Netns;
  beforeAll(async () => {
    lab = new NetnsLab('arfwdd');
    ns = await lab.add('rt');
    const peer = await lab.add('peer');
    for (const [i, d] of DEVS.entries()) {
      await lab.link(ns, d, peer, `p${i}`);
      await ns.ip(['addr', 'add', `10.${i}.0.1/24`, 'dev', d]);
    }
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  it(
    `agrees with ip route get ... iif ... mark on ${ROUNDS * QUESTIONS_PER_ROUND} forwarding questions (seed ${SEED})`,
    { timeout: 300_000 },
    async () => {
      const r = prng(SEED);
      const ip = new IpRunner({ netns: ns.name });
      const refused = { n: 0, of: 0 };
      const tally = { agree: 0, unknown: 0 };
      const mismatches: string[] = [];
      const outcomes = new Map<string, number>();
      for (let round = 0; round < ROUNDS; round++) {
        await randomConfig(ns, r, refused);
        const snap = await readHostState({ ip, proc: netnsProcReader(ns.name), netfilter: null });
        const model = new RouteModel(snap);
        for (let i = 0; i < QUESTIONS_PER_ROUND; i++) {
          const iif = pick(r, DEVS);
          const q: RouteQuestion = {
            dst: addrIn(r, pick(r, DSTS)),
            src: addrIn(r, pick(r, ['10.244.0.0/16', '10.244.1.0/24', '172.16.5.0/24', '10.2.0.0/24'])),
            iif,
            mark: chance(r, 0.5) ? pick(r, MARKS) : null,
          };
          const k = await ip.routeGet(q);
          const m = model.lookup(q);
          const key = k.ok ? (m.kind === 'route' && m.candidates.length > 1 ? 'multipath' : 'forwarded') : k.errno;
          outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
          const c = compare(k, m);
          if (c === 'agree') tally.agree++;
          else if (c === 'unknown') tally.unknown++;
          else if (mismatches.length < 10) mismatches.push(`round ${round} ${JSON.stringify(q)}: ${c}`);
        }
      }
      console.log(
        `forward differential seed=${SEED}: ${JSON.stringify(tally)}, refused setup ${refused.n}/${refused.of}, outcomes ${JSON.stringify([...outcomes].sort())}`,
      );
      expect(mismatches, `replay with ASYMROUTE_FWD_SEED=${SEED}`).toEqual([]);
      expect(tally.unknown).toBe(0);
      expect(refused.n / refused.of).toBeLessThan(0.2);
      // What the generator covered: forwarded answers, multipath, and each way a forwarded lookup fails.
      for (const k of ['forwarded', 'EHOSTUNREACH', 'ENETUNREACH', 'EACCES', 'EINVAL']) expect(outcomes.get(k) ?? 0, k).toBeGreaterThan(5);
      expect(outcomes.get('multipath') ?? 0).toBeGreaterThan(0);
    },
  );
});
