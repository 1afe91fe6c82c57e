// npm run bench: throughput of `asymroute analyze` against tcpdump's raw read of the same file (same run, same
// machine), peak memory and a profile, the flow table at 1M flows, start-up against `node -e 0`, and (as root) the
// live benchmark in namespaces (bench/live.ts). Writes bench/results.json; docs/benchmark.md is generated from it.

import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { FlowMatcher } from '../agent/analysis/flow-matcher.js';
import type { PacketSummary } from '../agent/decoders/packet.js';
import { RESULTS_FILE, type BenchResults } from './results.js';
import { liveBenchmark, type LiveResults } from './live.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PACKETS = Number(process.env['BENCH_PACKETS'] ?? 2_000_000);
const FLOWS = Number(process.env['BENCH_FLOWS'] ?? 62_500);
const VIP = [192, 168, 1, 240];

/** An SLL2 pcap of TCP request/reply traffic: every flow open at once, 1 in 10 replies leaving on another interface. */
function generate(path: string): number {
  const frame = 60;
  const rec = 16 + frame;
  const buf = Buffer.alloc(24 + PACKETS * rec);
  buf.writeUInt32LE(0xa1b2c3d4, 0);
  buf.writeUInt16LE(2, 4);
  buf.writeUInt16LE(4, 6);
  buf.writeUInt32LE(192, 16);
  buf.writeUInt32LE(276, 20);
  for (let i = 0; i < PACKETS; i++) {
    const f = i % FLOWS;
    const round = Math.floor(i / FLOWS);
    const request = round % 2 === 0;
    const o = 24 + i * rec;
    buf.writeUInt32LE(1_700_000_000 + Math.floor(i / 100_000), o);
    buf.writeUInt32LE(i % 1_000_000, o + 4);
    buf.writeUInt32LE(frame, o + 8);
    buf.writeUInt32LE(frame, o + 12);
    const p = o + 16;
    // SLL2: protocol, reserved, ifindex, ARPHRD, packet type, addr len, addr
    buf.writeUInt16BE(0x0800, p);
    const ifindex = request ? 3 : f % 10 === 0 ? 2 : 3;
    buf.writeUInt32BE(ifindex, p + 4);
    buf.writeUInt16BE(1, p + 8);
    buf[p + 10] = request ? 0 : 4;
    buf[p + 11] = 6;
    const ip = p + 20;
    buf[ip] = 0x45;
    buf.writeUInt16BE(40, ip + 2);
    buf[ip + 8] = 64;
    buf[ip + 9] = 6;
    const client = [10, (f >> 16) & 0xff, (f >> 8) & 0xff, f & 0xff];
    const [src, dst] = request ? [client, VIP] : [VIP, client];
    buf.set(src, ip + 12);
    buf.set(dst, ip + 16);
    const tcp = ip + 20;
    const cport = 1024 + (f % 60000);
    buf.writeUInt16BE(request ? cport : 443, tcp);
    buf.writeUInt16BE(request ? 443 : cport, tcp + 2);
    buf.writeUInt32BE(i, tcp + 4);
    buf[tcp + 12] = 0x50;
    buf[tcp + 13] = round === 0 ? 0x02 : round === 1 ? 0x12 : 0x10;
  }
  writeFileSync(path, buf);
  return buf.length;
}

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const r = await fn();
  return [(performance.now() - t0) / 1000, r];
}

async function best(runs: number, fn: () => Promise<unknown>): Promise<number> {
  let b = Infinity;
  for (let i = 0; i < runs; i++) b = Math.min(b, (await timed(fn))[0]);
  return b;
}

function flowTableMemory(): { flows: number; mb: number; msPerMillion: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = process.memoryUsage();
  const m = new FlowMatcher({ vips: ['192.168.1.240'], capacity: 1_000_000, ifname: (i) => `eth${i}` });
  const p: PacketSummary = {
    ok: true,
    ifindex: 3,
    direction: 'host',
    srcMac: null,
    kind: 'ip',
    family: 4,
    src: '',
    dst: '192.168.1.240',
    src4: 0,
    dst4: 0xc0a801f0,
    proto: 6,
    sport: 0,
    dport: 443,
    tcpFlags: 2,
    tcpSeq: 0,
    tcpAck: 0,
    icmpQuote: null,
    fragment: false,
    arp: null,
    ndp: null,
  };
  const t0 = performance.now();
  for (let i = 0; i < 1_000_000; i++) {
    p.src4 = 0x0a000000 + i;
    p.sport = 1024 + (i % 60000);
    m.observe(p, i);
  }
  const ms = performance.now() - t0;
  gc?.();
  const after = process.memoryUsage();
  const mb = (after.heapUsed - before.heapUsed + after.arrayBuffers - before.arrayBuffers) / 2 ** 20;
  if (m.size !== 1_000_000) throw new Error(`flow table holds ${m.size} flows, expected 1000000`);
  return { flows: m.size, mb, msPerMillion: ms };
}

// Top self-time functions of one analyze run (node --cpu-prof): where the time goes, kept with the figures.
async function analyzeProfile(file: string): Promise<Array<{ fn: string; ms: number; share: number }>> {
  const dir = mkdtempSync(join(tmpdir(), 'asymroute-prof-'));
  try {
    await execa(
      process.execPath,
      ['--cpu-prof', '--cpu-prof-dir', dir, join(ROOT, 'bin/asymroute.js'), 'analyze', file, '--vip', '192.168.1.240', '--json'],
      { env: { ASYMROUTE_CONFIG: '' }, reject: false, stdout: 'ignore' },
    );
    const f = readdirSync(dir).find((x) => x.endsWith('.cpuprofile'));
    if (!f) return [];
    const p = JSON.parse(readFileSync(join(dir, f), 'utf8')) as {
      nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
      samples: number[];
      timeDeltas: number[];
    };
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    const self = new Map<string, number>();
    let total = 0;
    p.samples.forEach((id, i) => {
      const n = byId.get(id)!;
      const url = n.callFrame.url.replace(/^.*\/dist\/agent\//, '');
      const k = `${n.callFrame.functionName || '(anonymous)'}${url ? ` ${url}` : ''}`;
      const dt = p.timeDeltas[i] ?? 0;
      self.set(k, (self.get(k) ?? 0) + dt);
      total += dt;
    });
    return [...self]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 8)
      .map(([fn, us]) => ({ fn, ms: Math.round(us / 1000), share: us / total }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Wall time of a command, best of `runs`.
async function bestRun(runs: number, argv: string[]): Promise<number> {
  return best(runs, () => execa(argv[0]!, argv.slice(1), { stdin: 'ignore', reject: false, env: { ASYMROUTE_CONFIG: '' } }));
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'asymroute-bench-'));
  const file = join(dir, 'bench.pcap');
  try {
    console.log(`generating ${PACKETS} packets over ${FLOWS} flows (SLL2, IPv4/TCP)...`);
    const bytes = generate(file);
    console.log(`  ${file}: ${(bytes / 2 ** 20).toFixed(1)} MiB`);
    await execa('tcpdump', ['-r', file, '-w', '/dev/null'], { reject: false }); // warm the page cache
    let tcpdump = Infinity;
    let ours = Infinity;
    let rssKiB = 0;
    let checked = false;
    // Interleaved, best of three each: the machine is shared, a burst of load hits both alike.
    for (let round = 0; round < 3; round++) {
      tcpdump = Math.min(tcpdump, await best(1, () => execa('tcpdump', ['-r', file, '-w', '/dev/null'], { stdin: 'ignore' })));
      ours = Math.min(
        ours,
        await best(1, async () => {
          const r = await execa(process.execPath, [join(ROOT, 'bin/asymroute.js'), 'analyze', file, '--vip', '192.168.1.240', '--json'], {
            env: { ASYMROUTE_STATS: '1', ASYMROUTE_CONFIG: '' },
            reject: false,
            maxBuffer: 1 << 26,
          });
          const m = /asymroute-stats (\{.*\})/.exec(String(r.stderr));
          if (!m) throw new Error(`analyze failed: ${r.stderr}`);
          const st = JSON.parse(m[1]!) as { maxRssKiB: number; records: number };
          if (st.records !== PACKETS) throw new Error(`analyze read ${st.records} records, expected ${PACKETS}`);
          if (!checked) {
            const rep = JSON.parse(String(r.stdout)) as { vips: Array<{ outcomes: Record<string, number> }> };
            const o = rep.vips[0]!.outcomes;
            if (o['asymmetric'] !== FLOWS / 10 || o['symmetric'] !== FLOWS - FLOWS / 10)
              throw new Error(`unexpected outcomes ${JSON.stringify(o)}`);
            checked = true;
          }
          rssKiB = Math.max(rssKiB, st.maxRssKiB);
        }),
      );
    }
    const profile = await analyzeProfile(file);
    console.log(
      `analyze: ${ours.toFixed(2)} s, tcpdump -r: ${tcpdump.toFixed(2)} s, ratio ${(ours / tcpdump).toFixed(2)}, peak RSS ${(rssKiB / 1024).toFixed(0)} MiB`,
    );
    const table = flowTableMemory();
    const small = join(ROOT, 'captures/vagrant-incident.pcap');
    // Interleaved rounds, best of each: a burst of load on the shared machine then hits all three alike.
    let [nodeAlone, help, analyzeSmall] = [Infinity, Infinity, Infinity];
    for (let round = 0; round < 7; round++) {
      nodeAlone = Math.min(nodeAlone, await bestRun(1, [process.execPath, '-e', '0']));
      help = Math.min(help, await bestRun(1, [process.execPath, join(ROOT, 'bin/asymroute.js'), '--help']));
      analyzeSmall = Math.min(
        analyzeSmall,
        await bestRun(1, [process.execPath, join(ROOT, 'bin/asymroute.js'), 'analyze', small, '--json']),
      );
    }
    console.log(
      `start-up: node -e 0 ${nodeAlone.toFixed(3)} s, --help ${help.toFixed(3)} s, analyze (small capture) ${analyzeSmall.toFixed(3)} s`,
    );
    let live: LiveResults | { skipped: string };
    if (process.getuid?.() !== 0) live = { skipped: 'needs root (network namespaces)' };
    else {
      console.log('live, in namespaces:');
      live = await liveBenchmark((l) => console.log(l));
    }
    const tcpdumpVersion =
      /tcpdump version (\S+)/.exec(String((await execa('tcpdump', ['--version'], { reject: false })).stdout))?.[1] ?? 'unknown';
    const results: BenchResults = {
      generatedBy: 'npm run bench',
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, node: process.version, tcpdump: tcpdumpVersion, kernel: release() },
      analyze: {
        packets: PACKETS,
        flows: FLOWS,
        fileMiB: statSync(file).size / 2 ** 20,
        seconds: ours,
        tcpdumpSeconds: tcpdump,
        ratio: ours / tcpdump,
        peakRssMiB: rssKiB / 1024,
        profile,
      },
      flowTable: { flows: table.flows, mib: table.mb, insertMs: table.msPerMillion },
      startup: {
        nodeSeconds: nodeAlone,
        helpSeconds: help,
        analyzeSeconds: analyzeSmall,
        helpRatio: help / nodeAlone,
        analyzeRatio: analyzeSmall / nodeAlone,
      },
      live,
    };
    writeFileSync(RESULTS_FILE, `${JSON.stringify(results, null, 2)}\n`);
    console.log(`wrote ${RESULTS_FILE}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
