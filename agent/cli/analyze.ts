// `asymroute analyze FILE`: the report from a capture file; no root needed.

import { constants, existsSync } from 'node:fs';
import { access, open as openFile, readFile, stat } from 'node:fs/promises';
import { analyzeCapture } from '../analysis/capture-analysis.js';
import { parseVipSpec } from '../analysis/vips.js';
import { resolveConfig, UsageError } from '../config/load.js';
import { analyzeReportJson, analyzeReportText } from '../exposition/analyze-report.js';
import { colourReport } from './colour.js';
import { parseLinks } from '../parsers/ip-json.js';
import { configuredGateways, configuredVips, consoleOutput, type Output } from './output.js';

// Two buffers in turn: the next read runs on libuv's thread pool while the reader decodes the current chunk (a
// buffer is read into again only once its chunk was handed over, as readCaptureStream allows), and the readers copy
// what they keep, so a large file costs no garbage.
async function* fileChunks(path: string): AsyncGenerator<Buffer> {
  const fh = await openFile(path, 'r');
  const bufs = [Buffer.allocUnsafe(1 << 20), Buffer.allocUnsafe(1 << 20)];
  let turn = 0;
  let next: Promise<{ bytesRead: number }> | null = fh.read(bufs[0]!, 0, 1 << 20, null);
  try {
    for (;;) {
      const { bytesRead } = await next;
      next = null;
      if (bytesRead === 0) return;
      const cur = bufs[turn]!;
      turn ^= 1;
      next = fh.read(bufs[turn]!, 0, 1 << 20, null);
      yield cur.subarray(0, bytesRead);
    }
  } finally {
    // The reader stopped early (a format error): let the read in flight finish before the file is closed.
    await next?.catch(() => undefined);
    await fh.close();
  }
}

async function loadLinks(path: string): Promise<Map<number, string>> {
  let data: unknown;
  try {
    data = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new UsageError(`links file ${path}: ${(e as Error).message}`);
  }
  return new Map(parseLinks(data, `links file ${path}`).map((l) => [l.ifindex, l.name]));
}

export async function runAnalyze(argv: string[], io: Output = consoleOutput): Promise<number> {
  const cfg = resolveConfig('analyze', argv);
  if (cfg.positionals.length !== 1) throw new UsageError('asymroute analyze takes one capture file (pcap or pcapng)');
  const file = cfg.positionals[0]!;
  try {
    await access(file, constants.R_OK);
  } catch (e) {
    throw new UsageError(`cannot read ${file}: ${(e as Error).message}`);
  }
  // A directory passes access(R_OK) and fails only at the first read: refuse it here, as unreadable input.
  if ((await stat(file)).isDirectory()) throw new UsageError(`cannot read ${file}: it is a directory, not a capture file (pcap or pcapng)`);
  const open = () => fileChunks(file);
  let linksPath = cfg.values.links;
  const sibling = file.replace(/\.(pcapng|pcap)$/, '') + '.links.json';
  if (!linksPath && sibling !== file && existsSync(sibling)) linksPath = sibling;
  const names = linksPath ? await loadLinks(linksPath) : new Map<number, string>();
  const given = configuredVips(cfg);
  const vips = given.length ? given : null;
  const a = await analyzeCapture(open, { vips: vips ? vips.map((v) => v.ip) : null, ifname: (i) => names.get(i) ?? null });
  if (a.records === 0 && a.formatError) throw new UsageError(`${file}: ${a.formatError}`);

  let check = null;
  const snapPath = cfg.values.snapshot;
  if (snapPath) {
    // Loaded only here: the sources and the reply-path check are a third of analyze's modules, and most runs have no snapshot.
    const [{ loadSnapshot }, { checkReplyPaths }, { checkReportJson }] = await Promise.all([
      import('./check.js'),
      import('../reply-path/check.js'),
      import('../exposition/check-report.js'),
    ]);
    const snap = await loadSnapshot(snapPath);
    const specs = vips ?? a.vips.map((ip) => parseVipSpec(ip, 'observed'));
    const observed = [...a.observedClients.values()].flat();
    const r = await checkReplyPaths({
      snapshot: snap,
      vips: specs,
      clientCidrs: cfg.values.clients,
      observedClients: observed,
      managementCidrs: cfg.values.managementCidrs,
      gateways: configuredGateways(cfg),
      oracle: async () => null,
    });
    check = checkReportJson(
      { node: snap.hostname, takenAt: snap.takenAt, source: 'snapshot', vipSource: vips ? 'given' : 'from the capture' },
      r,
    );
  }
  const meta = { file, linksSource: linksPath };
  const report = analyzeReportJson(meta, a, check);
  if (process.env['ASYMROUTE_STATS'] === '1') {
    // For the benchmark: the analysis's own peak memory. VmHWM, not getrusage's maxRSS: Linux carries maxRSS over
    // from the parent at fork and exec, so a benchmark holding its 145 MiB test file would be charged for it.
    const hwm = /VmHWM:\s+(\d+)/.exec(await readFile('/proc/self/status', 'utf8').catch(() => ''));
    io.err(`asymroute-stats ${JSON.stringify({ maxRssKiB: hwm ? Number(hwm[1]) : process.resourceUsage().maxRSS, records: a.records })}`);
  }
  io.out(
    cfg.values.json
      ? JSON.stringify(report, (_k, v) => (v instanceof Map ? Object.fromEntries(v) : v), 2)
      : io.colour
        ? colourReport(analyzeReportText(meta, a, check))
        : analyzeReportText(meta, a, check),
  );
  return report.exitCode;
}
