// The live benchmark (root): two namespaces, a VIP, iperf3 through it three ways (no capture, tcpdump alone with
// the agent's arguments, `asymroute serve`), and the agent at rest. Every figure is from this run; ratios are
// against the no-capture run of the same workload. Bounded: each iperf3 run lasts RUN_SECONDS, the namespaces and
// every process in them are removed on every path.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { NetnsLab, type Netns } from '../agent/netns/netns.js';
import { tcpdumpArgs } from '../agent/capture/tcpdump.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = `${ROOT}bin/asymroute.js`;
const RUN_SECONDS = Number(process.env['BENCH_LIVE_SECONDS'] ?? 4);
/** two check periods (serve's --interval 30): the checks are in the figure at their real rate */
const IDLE_SECONDS = Number(process.env['BENCH_IDLE_SECONDS'] ?? 60);
const NO_CHECK_SECONDS = 30;
/** seconds between the agent's start and the at-rest window: start-up's garbage collection is done by then */
const SETTLE_SECONDS = Number(process.env['BENCH_SETTLE_SECONDS'] ?? 30);
const ROUNDS = Number(process.env['BENCH_LIVE_ROUNDS'] ?? 3);
const VIP = '10.201.9.9';
/** the agent's defaults (captureSampleBits, captureDataSampleBits) */
export const SAMPLE_BITS = 4;
export const DATA_SAMPLE_BITS = 6;
/** the opt-in UDP thinning measured in a row of its own */
export const UDP_SAMPLE_BITS = 6;
/** client ports: one outside the sample (low bits not zero), one inside it */
const PORT_OUTSIDE = 40001;
const PORT_INSIDE = 40000;
const HZ = 100;

export interface LiveRun {
  workload: 'udp-64B' | 'tcp-bulk';
  mode: string;
  /** packets per second received on the VIP's side */
  packetsPerSecond: number;
  bitsPerSecond: number;
  /** throughput (packets/s for UDP, bits/s for TCP) over the no-capture run made just before it (median round) */
  throughputRatio: number;
  /** cores used by what the mode adds: tcpdump alone, or the agent (node, its tcpdump and the tools it ran) */
  cores: number | null;
  tcpdumpCores: number | null;
  kernelDrops: number | null;
  capturedPackets: number | null;
}

export interface LiveResults {
  sampleBits: number;
  /** captureDataSampleBits of the agent (absent in results from before it existed) */
  dataSampleBits?: number;
  /** the --capture-udp-sample-bits of the extra UDP row */
  udpSampleBits?: number;
  runSeconds: number;
  rounds: number;
  runs: LiveRun[];
  idle: {
    seconds: number;
    settleSeconds?: number;
    cores: number;
    /** the same agent with --interval 3600: what the periodic checks cost is the difference */
    withoutChecksCores?: number;
    rssMiB: number;
    tcpdumpRssMiB: number | null;
  };
}

// utime + stime (+ cutime + cstime when `reaped`) in clock ticks.
function ticks(pid: number, reaped: boolean): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    // fields after the command: state(3) ... utime(14) stime(15) cutime(16) cstime(17) → indices 11..14 here
    const v = rest.slice(11, 15).map(Number);
    return v[0]! + v[1]! + (reaped ? v[2]! + v[3]! : 0);
  } catch {
    return 0;
  }
}

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function rssKiB(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** CPU of a process and its children over a window: live children by their own ticks, exited ones by cutime. */
class CpuMeter {
  private readonly start = new Map<number, number>();
  private t0 = 0;
  constructor(private readonly pid: number) {}
  begin(): void {
    this.t0 = performance.now();
    this.start.set(this.pid, ticks(this.pid, true));
    for (const c of children(this.pid)) this.start.set(c, ticks(c, false));
  }
  /** cores of the whole tree, and of the children named `comm` */
  end(comm?: string): { cores: number; childCores: number } {
    const secs = (performance.now() - this.t0) / 1000;
    let total = ticks(this.pid, true) - (this.start.get(this.pid) ?? 0);
    let child = 0;
    for (const c of children(this.pid)) {
      const d = ticks(c, false) - (this.start.get(c) ?? 0);
      total += d;
      let name = '';
      try {
        name = readFileSync(`/proc/${c}/comm`, 'utf8').trim();
      } catch {
        // gone
      }
      if (!comm || name === comm) child += d;
    }
    return { cores: total / HZ / secs, childCores: child / HZ / secs };
  }
}

async function rxPackets(ns: Netns, dev: string): Promise<number> {
  const r = await ns.ip(['-s', '-j', 'link', 'show', dev]);
  return (JSON.parse(r.stdout) as Array<{ stats64: { rx: { packets: number } } }>)[0]!.stats64.rx.packets;
}

async function waitFor(cond: () => boolean, what: string, ms: number): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function iperf(client: Netns, node: Netns, workload: LiveRun['workload'], cport: number): Promise<{ pps: number; bps: number }> {
  const args = [
    'iperf3',
    '-c',
    VIP,
    '-t',
    String(RUN_SECONDS),
    '--cport',
    String(cport),
    '-J',
    ...(workload === 'udp-64B' ? ['-u', '-b', '0', '-l', '64'] : []),
  ];
  const rx0 = await rxPackets(node, 'eth0');
  const t0 = performance.now();
  const r = await client.exec(args, { timeoutMs: (RUN_SECONDS + 20) * 1000 });
  const secs = (performance.now() - t0) / 1000;
  const rx = (await rxPackets(node, 'eth0')) - rx0;
  const j = JSON.parse(r.stdout) as { end: { sum?: { bits_per_second: number }; sum_received?: { bits_per_second: number } } };
  const bps = workload === 'udp-64B' ? j.end.sum!.bits_per_second : j.end.sum_received!.bits_per_second;
  // The iperf3 run includes its control connection's set-up; the interface counter over the whole call is close.
  return { pps: rx / Math.max(secs, RUN_SECONDS), bps };
}

function spawnIn(ns: Netns, argv: string[], opts: { stdout?: 'ignore' | 'pipe' } = {}): ResultPromise {
  return execa('ip', ['netns', 'exec', ns.name, ...argv], {
    reject: false,
    stdin: 'ignore',
    stdout: opts.stdout ?? 'pipe',
    stderr: 'pipe',
    buffer: false,
    cleanup: true,
    env: { ASYMROUTE_CONFIG: '', HOME: '/nonexistent', KUBECONFIG: '' },
  });
}

async function stopChild(c: ResultPromise): Promise<void> {
  c.kill('SIGTERM');
  const t = setTimeout(() => c.kill('SIGKILL'), 5000);
  await c;
  clearTimeout(t);
}

async function tcpdumpRun(
  client: Netns,
  node: Netns,
  workload: LiveRun['workload'],
  cport: number,
  immediate: boolean,
): Promise<{ pps: number; bps: number; cores: number; drops: number | null; captured: number | null }> {
  const args = tcpdumpArgs([VIP], { snaplen: 192, bufferKiB: 4096, sample: { flows: SAMPLE_BITS, tcpData: DATA_SAMPLE_BITS } });
  if (immediate) args.unshift('--immediate-mode');
  const td = spawnIn(node, ['tcpdump', ...args], { stdout: 'ignore' });
  let err = '';
  td.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  try {
    await waitFor(() => err.includes('listening on'), 'tcpdump to listen', 10_000);
    const m = new CpuMeter(td.pid!);
    m.begin();
    const r = await iperf(client, node, workload, cport);
    const { cores } = m.end();
    await stopChild(td);
    const drops = /(\d+) packets? dropped by kernel/.exec(err);
    const cap = /(\d+) packets? captured/.exec(err);
    return { ...r, cores, drops: drops ? Number(drops[1]) : null, captured: cap ? Number(cap[1]) : null };
  } finally {
    td.kill('SIGKILL');
  }
}

interface Agent {
  child: ResultPromise;
  log: string;
  port: number;
}

async function startAgent(node: Netns, port: number, extra: string[] = []): Promise<Agent> {
  const child = spawnIn(node, [
    process.execPath,
    BIN,
    'serve',
    '--vip',
    VIP,
    '--listen',
    '127.0.0.1',
    '--port',
    String(port),
    '--kubernetes',
    'off',
    '--bgp',
    'off',
    '--capture-sample-bits',
    String(SAMPLE_BITS),
    '--capture-data-sample-bits',
    String(DATA_SAMPLE_BITS),
    ...extra,
  ]);
  const a: Agent = { child, log: '', port };
  child.stdout?.on('data', (d: Buffer) => (a.log += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (a.log += d.toString()));
  await waitFor(() => /"event":"capture-linktype"[^\n]*"ok":true/.test(a.log), "the agent's capture to deliver LINUX_SLL2", 20_000);
  // The first check and its route reads are start-up, not load.
  await new Promise((r) => setTimeout(r, 1500));
  return a;
}

async function agentMetrics(node: Netns, a: Agent): Promise<Record<string, number>> {
  // tcpdump prints its counters on SIGUSR1; the agent reads them within a moment.
  for (const c of children(a.child.pid!)) {
    try {
      if (readFileSync(`/proc/${c}/comm`, 'utf8').trim() === 'tcpdump') process.kill(c, 'SIGUSR1');
    } catch {
      // gone
    }
  }
  await new Promise((r) => setTimeout(r, 500));
  const r = await node.exec(['curl', '-s', `http://127.0.0.1:${a.port}/metrics`]);
  const out: Record<string, number> = {};
  for (const line of r.stdout.split('\n')) {
    const m = /^(asymroute_capture_\w+) (\S+)$/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

async function agentRun(
  client: Netns,
  node: Netns,
  a: Agent,
  workload: LiveRun['workload'],
  cport: number,
): Promise<{ pps: number; bps: number; cores: number; tcpdumpCores: number; drops: number | null; captured: number | null }> {
  const before = await agentMetrics(node, a);
  const m = new CpuMeter(a.child.pid!);
  m.begin();
  const r = await iperf(client, node, workload, cport);
  const { cores, childCores } = m.end('tcpdump');
  const after = await agentMetrics(node, a);
  const d = (k: string) => (after[k] !== undefined && before[k] !== undefined ? after[k]! - before[k]! : null);
  return {
    ...r,
    cores,
    tcpdumpCores: childCores,
    drops: d('asymroute_capture_kernel_drops_total'),
    captured: d('asymroute_capture_packets_total'),
  };
}

async function atRest(node: Netns, procs: ResultPromise[], port: number, extra: string[], seconds: number): Promise<LiveResults['idle']> {
  const a = await startAgent(node, port, extra);
  procs.push(a.child);
  try {
    await new Promise((r) => setTimeout(r, SETTLE_SECONDS * 1000));
    const m = new CpuMeter(a.child.pid!);
    m.begin();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const { cores } = m.end();
    const td = children(a.child.pid!).find((c) => {
      try {
        return readFileSync(`/proc/${c}/comm`, 'utf8').trim() === 'tcpdump';
      } catch {
        return false;
      }
    });
    return {
      seconds,
      settleSeconds: SETTLE_SECONDS,
      cores,
      rssMiB: rssKiB(a.child.pid!) / 1024,
      tcpdumpRssMiB: td ? rssKiB(td) / 1024 : null,
    };
  } finally {
    await stopChild(a.child);
  }
}

export async function liveBenchmark(log: (s: string) => void): Promise<LiveResults> {
  for (const bin of ['iperf3', 'tcpdump', 'curl']) {
    if ((await execa('which', [bin], { reject: false })).exitCode !== 0)
      throw new Error(`${bin} is not installed (npm run bench installs it: scripts/install-deps.sh bench)`);
  }
  await NetnsLab.reapStale('arbl');
  const lab = new NetnsLab('arbl');
  const procs: ResultPromise[] = [];
  try {
    const client = await lab.add('c');
    const node = await lab.add('n');
    await lab.link(client, 'eth0', node, 'eth0');
    await client.ip(['addr', 'add', '10.201.0.2/24', 'dev', 'eth0']);
    await node.ip(['addr', 'add', '10.201.0.1/24', 'dev', 'eth0']);
    await node.ip(['addr', 'add', `${VIP}/32`, 'dev', 'lo']);
    await client.ip(['route', 'add', `${VIP}/32`, 'via', '10.201.0.1']);
    const server = spawnIn(node, ['iperf3', '-s', '-B', VIP], { stdout: 'ignore' });
    procs.push(server);
    await new Promise((r) => setTimeout(r, 500));

    const runs: LiveRun[] = [];
    for (const workload of ['udp-64B', 'tcp-bulk'] as const) {
      // Each mode runs ROUNDS times, each time right after a no-capture run: the shared machine's load swings
      // within seconds, so each ratio is taken against the run beside it, and the round with the median ratio is
      // the one reported.
      type Sample = {
        pps: number;
        bps: number;
        cores: number | null;
        tcpdumpCores: number | null;
        drops: number | null;
        captured: number | null;
      };
      const baseline: Array<{ pps: number; bps: number }> = [];
      const tput = (x: { pps: number; bps: number }) => (workload === 'udp-64B' ? x.pps : x.bps);
      const measure = async (mode: string, fn: () => Promise<Sample>) => {
        const pairs: Array<{ x: Sample; ratio: number }> = [];
        for (let i = 0; i < ROUNDS; i++) {
          const b = await iperf(client, node, workload, PORT_OUTSIDE);
          baseline.push(b);
          const x = await fn();
          pairs.push({ x, ratio: tput(x) / tput(b) });
        }
        pairs.sort((p, q) => p.ratio - q.ratio);
        const mid = pairs[Math.floor(pairs.length / 2)]!;
        return { mode, ...mid.x, ratio: mid.ratio };
      };
      const measured = [];
      for (const [label, port] of [
        ['flow outside the sample', PORT_OUTSIDE],
        ['flow inside the sample', PORT_INSIDE],
      ] as const) {
        measured.push(
          await measure(`tcpdump alone, ${label}`, async () => {
            const t = await tcpdumpRun(client, node, workload, port, false);
            return { ...t, tcpdumpCores: t.cores };
          }),
        );
      }
      measured.push(
        await measure('tcpdump alone with --immediate-mode (before), flow inside the sample', async () => {
          const t = await tcpdumpRun(client, node, workload, PORT_INSIDE, true);
          return { ...t, tcpdumpCores: t.cores };
        }),
      );
      const a = await startAgent(node, 9464);
      procs.push(a.child);
      try {
        for (const [label, port] of [
          ['flow outside the sample', PORT_OUTSIDE],
          ['flow inside the sample', PORT_INSIDE],
        ] as const) {
          measured.push(await measure(`asymroute serve, ${label}`, () => agentRun(client, node, a, workload, port)));
        }
      } finally {
        await stopChild(a.child);
      }
      if (workload === 'udp-64B') {
        const u = await startAgent(node, 9466, ['--capture-udp-sample-bits', String(UDP_SAMPLE_BITS)]);
        procs.push(u.child);
        try {
          measured.push(
            await measure(`asymroute serve --capture-udp-sample-bits ${UDP_SAMPLE_BITS}, flow inside the sample`, () =>
              agentRun(client, node, u, workload, PORT_INSIDE),
            ),
          );
        } finally {
          await stopChild(u.child);
        }
      }
      const sortedBase = [...baseline].sort((p, q) => tput(p) - tput(q));
      const base = sortedBase[Math.floor(sortedBase.length / 2)]!;
      for (const m of [
        {
          mode: 'no capture (median of the runs beside the others)',
          ...base,
          cores: null,
          tcpdumpCores: null,
          drops: null,
          captured: null,
          ratio: 1,
        },
        ...measured,
      ]) {
        const run: LiveRun = {
          workload,
          mode: m.mode,
          packetsPerSecond: Math.round(m.pps),
          bitsPerSecond: Math.round(m.bps),
          throughputRatio: m.ratio,
          cores: m.cores,
          tcpdumpCores: m.tcpdumpCores,
          kernelDrops: m.drops,
          capturedPackets: m.captured,
        };
        runs.push(run);
        log(
          `  ${workload} ${m.mode}: ${run.packetsPerSecond} packets/s, ${(run.bitsPerSecond / 1e6).toFixed(0)} Mbit/s, ratio ${run.throughputRatio.toFixed(3)}, cores ${m.cores?.toFixed(3) ?? '-'}, drops ${m.drops ?? '-'}, captured ${m.captured ?? '-'}`,
        );
      }
    }

    // At rest: the agent with a VIP and no traffic, for a whole number of check periods; then once more without
    // periodic checks, which splits the figure into the checks and the rest.
    const idle = await atRest(node, procs, 9465, [], IDLE_SECONDS);
    const noChecks = await atRest(node, procs, 9467, ['--interval', '3600'], NO_CHECK_SECONDS);
    idle.withoutChecksCores = noChecks.cores;
    log(
      `  at rest: ${idle.cores.toFixed(4)} cores (${noChecks.cores.toFixed(4)} without periodic checks), node RSS ${idle.rssMiB.toFixed(1)} MiB, tcpdump RSS ${idle.tcpdumpRssMiB?.toFixed(1) ?? '-'} MiB`,
    );
    return {
      sampleBits: SAMPLE_BITS,
      dataSampleBits: DATA_SAMPLE_BITS,
      udpSampleBits: UDP_SAMPLE_BITS,
      runSeconds: RUN_SECONDS,
      rounds: ROUNDS,
      runs,
      idle,
    };
  } finally {
    for (const p of procs) p.kill('SIGKILL');
    await Promise.allSettled(procs);
    await lab.destroy();
  }
}
