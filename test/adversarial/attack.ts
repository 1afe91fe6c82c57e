// The adversarial suite's moving parts: the agent started in a namespace (binary overridable by $ASYMROUTE_BIN, for
// measuring an older build), a /healthz prober inside that namespace, bounded hping3 floods, and a tcpdump that counts
// what actually arrived.

import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import type { Netns } from '../../agent/netns/netns.js';
import { BIN, collectLines } from '../helpers/cli.js';
import { untilValue } from '../helpers/netns-http.js';
import { descendants, percentile, round, running, statOf, type ProcInfo } from './measure.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
/** The agent under attack: this tree's build unless ASYMROUTE_BIN names another bin/asymroute.js (before/after figures). */
export const AGENT_BIN = process.env['ASYMROUTE_BIN'] ?? BIN;
/** the chart's config.probePort: the kubelet's probes go there */
export const PROBE_PORT = 9473;

export interface RunningAgent {
  proc: ResultPromise;
  pid: number;
  /** the agent's process (pid and start time), for running() */
  self: ProcInfo;
  logs: string[];
  port: number;
  /** the probe listener's port (--probe-port), null without one */
  probePort: number | null;
  /** SIGTERM, then the exit within `ms`; true when it exited in time */
  stop(ms?: number): Promise<boolean>;
}

/** `asymroute serve ARGS` in `ns`, optionally under a file limit (prlimit sets soft and hard, so node cannot raise it). */
export async function startAgent(
  ns: Netns,
  args: string[],
  opts: { nofile?: number; env?: Record<string, string> } = {},
): Promise<RunningAgent> {
  if (!existsSync(AGENT_BIN)) throw new Error(`${AGENT_BIN} is missing (npm run build)`);
  const limit = opts.nofile ? ['prlimit', `--nofile=${opts.nofile}:${opts.nofile}`] : [];
  // ip netns exec and prlimit exec their command: the pid execa sees is the agent's.
  // As the chart runs it: the kubelet's probes on a listener of their own.
  const withProbes = args.includes('--probe-port') ? args : ['--probe-port', String(PROBE_PORT), ...args];
  const proc = execa('ip', ['netns', 'exec', ns.name, ...limit, process.execPath, AGENT_BIN, 'serve', ...withProbes], {
    reject: false,
    stdin: 'ignore',
    all: true,
    buffer: false,
    env: { ASYMROUTE_CONFIG: '', ...opts.env },
  });
  const logs: string[] = [];
  collectLines(proc.all, logs);
  let exited = false;
  void proc.then(() => (exited = true));
  const line = await untilValue(
    'the agent\'s "listening" line',
    async () => {
      if (exited) throw new Error(`the agent exited before listening:\n${logs.slice(-20).join('\n')}`);
      return logs.find((l) => l.includes('"event":"listening"')) ?? null;
    },
    20_000,
  );
  const pid = proc.pid!;
  const self = statOf(pid);
  if (self?.comm !== 'node') throw new Error(`pid ${pid} is ${self?.comm ?? 'gone'}, not the agent`);
  return {
    proc,
    pid,
    self,
    logs,
    port: (JSON.parse(line) as { port: number }).port,
    probePort: (JSON.parse(line) as { probePort?: number }).probePort ?? null,
    async stop(ms = 10_000) {
      if (exited) return true;
      proc.kill('SIGTERM');
      const t = new Promise<false>((r) => setTimeout(() => r(false), ms).unref());
      return Promise.race([proc.then(() => true), t]);
    },
  };
}

// One GET from inside the namespace, bounded; reports status, size and time (status 0: no answer in time).
const READ_JS = `const t = performance.now(); fetch(process.argv[1], { signal: AbortSignal.timeout(Number(process.argv[2])) }).then(async (r) => { const b = Buffer.from(await r.arrayBuffer()); process.stdout.write(JSON.stringify({ status: r.status, bytes: b.length, ms: performance.now() - t, body: process.argv[3] === 'body' ? b.toString() : '' })); }).catch((e) => process.stdout.write(JSON.stringify({ status: 0, bytes: 0, ms: performance.now() - t, error: String(e.name || e) })));`;

/** GET `path` from the agent in `ns` as an attacker would, giving up after `timeoutMs`. */
export async function timedGet(ns: Netns, port: number, path: string, timeoutMs: number, keepBody = false) {
  return getFrom(ns, `http://127.0.0.1:${port}${path}`, timeoutMs, keepBody);
}

/** GET `url` from inside `ns` (any address that namespace reaches); status 0 when nothing answered in time. */
export async function getFrom(ns: Netns, url: string, timeoutMs: number, keepBody = false) {
  const r = await ns.exec([process.execPath, '-e', READ_JS, url, String(timeoutMs), keepBody ? 'body' : ''], {
    timeoutMs: timeoutMs + 10_000,
  });
  const o = JSON.parse(r.stdout) as { status: number; bytes: number; ms: number; body?: string; error?: string };
  return { ...o, ms: Math.round(o.ms) };
}

/**
 * hold.mjs in `ns`: `idle` connections that send nothing and `slow` ones that GET `path` and never read, held for
 * `holdMs` (then it ends by itself). Resolves with what it saw once it has ended.
 */
export async function holdConnections(ns: Netns, port: number, idle: number, slow: number, path: string, holdMs: number) {
  const r = await execa(
    'ip',
    ['netns', 'exec', ns.name, process.execPath, join(HERE, 'hold.mjs'), String(port), String(idle), String(slow), path, String(holdMs)],
    { reject: false, stdin: 'ignore', timeout: holdMs + 30_000 },
  );
  const lines = String(r.stdout)
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { kind: string; opened: number; failed: number; closedByServer: number; errors: Record<string, number> });
  const opened = lines.find((l) => l.kind === 'opened');
  const end = lines.find((l) => l.kind === 'end');
  if (!opened || !end) throw new Error(`hold.mjs did not report (exit ${r.exitCode}): ${String(r.stderr).slice(0, 500)}`);
  return { opened, end };
}

export interface Sample {
  t: number;
  /** healthz: the kubelet's probe (the probe port); healthz-api: /healthz on the API port */
  kind: 'healthz' | 'healthz-api' | 'metrics' | 'started';
  status: number;
  ms: number;
  bytes?: number;
  series?: number | null;
  error?: string;
}

/** probe.mjs in the agent's namespace; samples() are everything it reported so far. */
export async function startProber(ns: Netns, agent: { port: number; probePort: number | null }, maxMs = 120_000) {
  const args = [join(HERE, 'probe.mjs'), String(agent.port), String(maxMs), String(agent.probePort ?? agent.port)];
  const proc = execa('ip', ['netns', 'exec', ns.name, process.execPath, ...args], {
    reject: false,
    stdin: 'pipe',
    buffer: false,
  });
  const got: Sample[] = [];
  let rest = '';
  proc.stdout?.on('data', (d: Buffer) => {
    const lines = (rest + String(d)).split('\n');
    rest = lines.pop()!;
    for (const l of lines) if (l) got.push(JSON.parse(l) as Sample);
  });
  await untilValue('the prober to start', async () => got.some((s) => s.kind === 'started'), 10_000);
  await untilValue('a first /healthz answer', async () => got.some((s) => s.kind === 'healthz'), 10_000);
  return {
    proc,
    samples: () => got,
    async stop() {
      proc.stdin?.end();
      const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await proc;
      clearTimeout(t);
    },
  };
}

export interface HealthFigures {
  probes: number;
  failed: number;
  p50ms: number;
  p99ms: number;
  maxms: number;
}

/**
 * The /healthz figures under the names every attack's [adversarial] line prints them with: the probe port's, and
 * the API port's when given (reported, not bounded: the kubelet does not probe there).
 */
export const healthReport = (h: HealthFigures, api?: HealthFigures) => ({
  healthzProbes: h.probes,
  healthzFailed: h.failed,
  healthzP50ms: h.p50ms,
  healthzP99ms: h.p99ms,
  healthzMaxms: h.maxms,
  ...(api ? { apiHealthzProbes: api.probes, apiHealthzFailed: api.failed, apiHealthzP99ms: api.p99ms, apiHealthzMaxms: api.maxms } : {}),
});

/** /healthz latencies within [from, to] (the probe port's, or the API port's); a probe without a 200 counts as Infinity. */
export function healthFigures(samples: Sample[], from: number, to: number, kind: 'healthz' | 'healthz-api' = 'healthz'): HealthFigures {
  const h = samples.filter((s) => s.kind === kind && s.t >= from && s.t <= to);
  const ms = h.map((s) => (s.status === 200 ? s.ms : Infinity));
  return {
    probes: h.length,
    failed: h.filter((s) => s.status !== 200).length,
    p50ms: round(percentile(ms, 50), 1),
    p99ms: round(percentile(ms, 99), 1),
    maxms: round(Math.max(...ms), 1),
  };
}

/** The highest series count the prober's scrapes saw within [from, to]. */
export function seriesPeak(samples: Sample[], from: number, to: number): number {
  return Math.max(
    0,
    ...samples.filter((s) => s.kind === 'metrics' && s.t >= from && s.t <= to && typeof s.series === 'number').map((s) => s.series!),
  );
}

/**
 * SYNs from random sources with hping3, bounded by count (-c) and paced at 1 µs (-i u1: about 55k a second here;
 * --flood ignores -c). `timeoutMs` is a guard only.
 */
export async function synFlood(from: Netns, dst: string, port: number, count: number, timeoutMs = 60_000): Promise<void> {
  const r = await execa(
    'ip',
    ['netns', 'exec', from.name, 'hping3', '-q', '-S', '--rand-source', '-p', String(port), '-i', 'u1', '-c', String(count), dst],
    { reject: false, stdin: 'ignore', timeout: timeoutMs },
  );
  if (!/packets transmitted/.test(`${r.stdout}${r.stderr}`))
    throw new Error(`hping3 failed (exit ${r.exitCode}): ${String(r.stderr).slice(0, 500)}`);
}

/**
 * The oracle for what arrived: tcpdump (not the agent's) on one interface of the node, writing the SYNs to DST:PORT to
 * a pcap that stop() reads to count distinct source addresses. Removes its file.
 */
export async function startArrivalCount(ns: Netns, iface: string, dst: string, port: number, dir: string) {
  const file = join(dir, `arrivals-${port}.pcap`);
  const proc = execa(
    'ip',
    [
      'netns',
      'exec',
      ns.name,
      'tcpdump',
      '-i',
      iface,
      '-n',
      '-s',
      '64',
      '-B',
      '32768',
      '-U',
      '-w',
      file,
      `tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn and dst host ${dst} and dst port ${port}`,
    ],
    { reject: false, stdin: 'ignore', all: true, buffer: false },
  );
  let err = '';
  proc.all?.on('data', (d: Buffer) => (err += String(d)));
  await untilValue('the counting tcpdump to listen', async () => /listening on/.test(err), 10_000);
  return {
    async stop(): Promise<{ syns: number; distinctSources: number; droppedByKernel: number }> {
      proc.kill('SIGINT');
      await proc;
      try {
        const dropped = Number(/(\d+) packets? dropped by kernel/.exec(err)?.[1] ?? NaN);
        return { ...countSources(readFileSync(file)), droppedByKernel: dropped };
      } finally {
        rmSync(file, { force: true });
      }
    },
  };
}

/** Reads a classic pcap of Ethernet frames carrying IPv4: the number of packets and of distinct source addresses. */
export function countSources(buf: Buffer): { syns: number; distinctSources: number } {
  const magic = buf.readUInt32LE(0);
  if (magic !== 0xa1b2c3d4 && magic !== 0xa1b23c4d) throw new Error(`not a little-endian pcap (magic ${magic.toString(16)})`);
  if (buf.readUInt32LE(20) !== 1) throw new Error(`link type ${buf.readUInt32LE(20)}, expected Ethernet`);
  const seen = new Set<number>();
  let n = 0;
  for (let off = 24; off + 16 <= buf.length;) {
    const incl = buf.readUInt32LE(off + 8);
    const frame = off + 16;
    if (frame + incl > buf.length) break;
    if (incl >= 34 && buf.readUInt16BE(frame + 12) === 0x0800) {
      seen.add(buf.readUInt32BE(frame + 26));
      n++;
    }
    off = frame + incl;
  }
  return { syns: n, distinctSources: seen.size };
}

/** The agent's children, for the no-child-left-behind checks. */
export function childrenOf(pid: number): ProcInfo[] {
  return descendants(pid);
}

/** Waits up to `ms` for every one of `procs` to be gone (or a zombie); returns those still running. */
export async function survivors(procs: ProcInfo[], ms: number): Promise<ProcInfo[]> {
  const t0 = Date.now();
  for (;;) {
    const left = procs.filter((p) => running(p));
    if (left.length === 0 || Date.now() - t0 > ms) return left;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Ends the given processes (the test's cleanup for children an agent left behind). */
export function killAll(procs: ProcInfo[]): void {
  for (const p of procs) {
    if (!running(p)) continue;
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}

export const describeProcs = (ps: ProcInfo[]) => ps.map((p) => `${p.comm}[${p.pid}]`).join(', ');
