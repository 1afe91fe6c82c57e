// Figures for the adversarial suite, read from /proc and from the agent's own answers: resident memory and CPU of the
// agent and every process it started, /healthz latencies, /metrics series. Independent of the agent's code.

import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ROOT } from '../helpers/cli.js';

const USER_HZ = 100; // utime and stime in /proc/PID/stat are in 1/100 s on Linux

export interface ProcInfo {
  pid: number;
  ppid: number;
  comm: string;
  state: string;
  /** clock ticks after boot: with the pid, names one process even after the pid is reused */
  start: number;
  /** utime + stime of the process itself */
  cpuTicks: number;
  /** cutime + cstime: its waited-for children */
  childTicks: number;
}

/** One process from /proc/PID/stat, or null when it is gone. */
export function statOf(pid: number): ProcInfo | null {
  let s: string;
  try {
    s = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  // comm is in parentheses and may hold spaces or parentheses: the fields start after the last ')'.
  const close = s.lastIndexOf(')');
  const f = s.slice(close + 2).split(' ');
  return {
    pid,
    comm: s.slice(s.indexOf('(') + 1, close),
    state: f[0]!,
    ppid: Number(f[1]),
    cpuTicks: Number(f[11]) + Number(f[12]),
    childTicks: Number(f[13]) + Number(f[14]),
    start: Number(f[19]),
  };
}

/** Every live process under `root` (root excluded), from the parent links in /proc. */
export function descendants(root: number): ProcInfo[] {
  const all: ProcInfo[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const p = statOf(Number(e));
    if (p) all.push(p);
  }
  const out: ProcInfo[] = [];
  const parents = new Set([root]);
  // Parent links form a tree: repeat until no new child is found (depth is small).
  for (let grew = true; grew;) {
    grew = false;
    for (const p of all) {
      if (parents.has(p.ppid) && !parents.has(p.pid)) {
        parents.add(p.pid);
        out.push(p);
        grew = true;
      }
    }
  }
  return out;
}

/** The process still exists and is not a zombie, and is the one seen earlier (same start time). */
export function running(p: Pick<ProcInfo, 'pid' | 'start'>): boolean {
  const now = statOf(p.pid);
  return now !== null && now.start === p.start && now.state !== 'Z';
}

function statusKiB(pid: number, field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Proportional set size from smaps_rollup: shared pages split among their users, so a sum does not count them twice. */
function pssKiB(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'latin1'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

const MiB = 1024 * 1024;

/** resources.limits.memory of the chart, in bytes (Ki/Mi/Gi suffixes as Kubernetes reads them). */
/** The chart's default `config.maxVips`: the cap an agent installed by the chart runs with. */
export function chartMaxVips(): number {
  const values = parse(readFileSync(join(ROOT, 'charts/asymroute/values.yaml'), 'utf8')) as { config?: { maxVips?: unknown } };
  const n = values.config?.maxVips;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1)
    throw new Error(`charts/asymroute/values.yaml: config.maxVips is ${JSON.stringify(n)}, not a count`);
  return n;
}

export function chartMemoryLimitBytes(): number {
  const values = parse(readFileSync(join(ROOT, 'charts/asymroute/values.yaml'), 'utf8')) as {
    resources?: { limits?: { memory?: string } };
  };
  const raw = String(values.resources?.limits?.memory ?? '');
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|K|M|G)?$/.exec(raw);
  if (!m) throw new Error(`charts/asymroute/values.yaml: resources.limits.memory is ${JSON.stringify(raw)}, not a quantity`);
  const unit = { Ki: 1024, Mi: MiB, Gi: 1024 * MiB, K: 1e3, M: 1e6, G: 1e9 }[m[2] ?? ''] ?? 1;
  return Number(m[1]) * unit;
}

export interface ResourceFigures {
  /** highest sum of VmRSS over the agent and its children, sampled */
  rssPeakMiB: number;
  /** highest sum of Pss (smaps_rollup) over the same processes, sampled */
  pssPeakMiB: number;
  /** the agent's own VmHWM at the end: its peak RSS as the kernel tracked it, between samples too */
  agentHwmMiB: number;
  /** CPU seconds of the agent and its children over the window */
  cpuSeconds: number;
  /** cpuSeconds divided by the window's wall time */
  cores: number;
  seconds: number;
  samples: number;
}

/**
 * Samples the agent and its children every `everyMs` from start() to stop(). CPU: the agent's own and waited-for
 * children's ticks, plus the ticks each live child spent between its first and last sample.
 */
export class ResourceSampler {
  private timer: NodeJS.Timeout | null = null;
  private t0 = 0;
  private rssPeak = 0;
  private pssPeak = 0;
  private samples = 0;
  private readonly first = new Map<string, number>();
  private readonly last = new Map<string, number>();
  private agentStart: ProcInfo | null = null;
  private agentLast: ProcInfo | null = null;

  constructor(
    private readonly pid: number,
    private readonly everyMs = 200,
  ) {}

  start(): this {
    this.t0 = Date.now();
    this.agentStart = statOf(this.pid);
    this.sample();
    this.timer = setInterval(() => this.sample(), this.everyMs);
    return this;
  }

  private sample(): void {
    const me = statOf(this.pid);
    if (!me || me.state === 'Z') return;
    this.agentLast = me;
    let rss = statusKiB(this.pid, 'VmRSS');
    let pss = pssKiB(this.pid);
    for (const c of descendants(this.pid)) {
      rss += statusKiB(c.pid, 'VmRSS');
      pss += pssKiB(c.pid);
      const key = `${c.pid}/${c.start}`;
      if (!this.first.has(key)) this.first.set(key, c.cpuTicks);
      this.last.set(key, c.cpuTicks);
    }
    this.rssPeak = Math.max(this.rssPeak, rss);
    this.pssPeak = Math.max(this.pssPeak, pss);
    this.samples++;
  }

  /** The agent's VmHWM now, in MiB: its peak so far, also after the sampling window (a request still being served). */
  hwmNowMiB(): number {
    return round(statusKiB(this.pid, 'VmHWM') / 1024);
  }

  stop(): ResourceFigures {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.sample();
    const seconds = (Date.now() - this.t0) / 1000;
    let ticks = 0;
    if (this.agentStart && this.agentLast)
      ticks += this.agentLast.cpuTicks - this.agentStart.cpuTicks + (this.agentLast.childTicks - this.agentStart.childTicks);
    for (const [k, v] of this.last) ticks += v - this.first.get(k)!;
    const cpuSeconds = ticks / USER_HZ;
    return {
      rssPeakMiB: round(this.rssPeak / 1024),
      pssPeakMiB: round(this.pssPeak / 1024),
      agentHwmMiB: round(statusKiB(this.pid, 'VmHWM') / 1024),
      cpuSeconds: round(cpuSeconds),
      cores: round(seconds > 0 ? cpuSeconds / seconds : 0),
      seconds: round(seconds),
      samples: this.samples,
    };
  }
}

export const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

/** Nearest-rank percentile; a failed probe counts as Infinity, so failures cannot hide in the tail. */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

/** Sample lines of a Prometheus text exposition: every line that is neither a comment nor blank. */
export function seriesCount(metricsText: string): number {
  return metricsText.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
}

/** The value of one sample (exact name with labels as printed), or null. */
export function sampleValue(metricsText: string, series: string): number | null {
  for (const l of metricsText.split('\n')) if (l.startsWith(`${series} `)) return Number(l.slice(series.length + 1));
  return null;
}

/** Sum of every sample of a metric name, whatever its labels. */
export function sumOf(metricsText: string, name: string): number {
  let t = 0;
  for (const l of metricsText.split('\n')) if (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) t += Number(l.split(' ').pop());
  return t;
}

/**
 * Where each attack's figures go: $ASYMROUTE_ADV_RESULTS when set (kept: the caller asked for it), else a temporary
 * directory removed by cleanupResults() in the file's afterAll.
 */
let resultsDir: string | null = null;
let ownDir = false;
function dir(): string {
  if (resultsDir) return resultsDir;
  const wanted = process.env['ASYMROUTE_ADV_RESULTS'];
  if (wanted) {
    mkdirSync(wanted, { recursive: true });
    resultsDir = wanted;
  } else {
    resultsDir = mkdtempSync(join(tmpdir(), 'asymroute-adversarial-'));
    ownDir = true;
  }
  return resultsDir;
}

export function cleanupResults(): void {
  if (resultsDir && ownDir) rmSync(resultsDir, { recursive: true, force: true });
  resultsDir = null;
  ownDir = false;
}

/** Writes ATTACK.json and prints one summary line, so CI logs carry the figures. */
export function report(attack: string, figures: Record<string, unknown>): void {
  const bin = process.env['ASYMROUTE_BIN'] ?? 'bin/asymroute.js';
  const out = { attack, bin, at: new Date().toISOString(), ...figures };
  writeFileSync(join(dir(), `${attack}.json`), JSON.stringify(out, null, 2) + '\n');
  const flat = Object.entries(figures)
    .filter(([, v]) => typeof v !== 'object' || v === null)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ');
  console.log(`[adversarial] ${attack}: ${flat}`);
}
