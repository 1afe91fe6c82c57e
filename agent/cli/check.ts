// `asymroute check` and `asymroute snapshot`: wiring of sources, analysis and exposition.

import { readFile } from 'node:fs/promises';
import { checkReplyPaths } from '../reply-path/check.js';
import { detectVips, type VipSpec } from '../analysis/vips.js';
import { resolveConfig, UsageError, type Resolved } from '../config/load.js';
import { checkReportJson, checkReportText } from '../exposition/check-report.js';
import { colourReport } from './colour.js';
import { SNAPSHOT_VERSION, type HostSnapshot } from '../model/host-state.js';
import { IpRunner, kernelOracle } from '../sources/ip-command.js';
import { readHostState } from '../sources/host-state.js';
import { readConntrack } from '../sources/netfilter.js';
import { configuredGateways, configuredVips, consoleOutput, type Output } from './output.js';

export { configuredGateways, configuredVips, consoleOutput, type HostCommand, type Output } from './output.js';

export async function loadSnapshot(path: string): Promise<HostSnapshot> {
  let data: unknown;
  try {
    data = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new UsageError(`snapshot ${path}: ${(e as Error).message}`);
  }
  const s = data as Partial<HostSnapshot>;
  if (
    typeof s !== 'object' ||
    s === null ||
    s.version !== SNAPSHOT_VERSION ||
    !Array.isArray(s.routes) ||
    !Array.isArray(s.rules) ||
    !Array.isArray(s.addrs) ||
    !Array.isArray(s.links)
  ) {
    throw new UsageError(
      `snapshot ${path}: not an asymroute snapshot of version ${SNAPSHOT_VERSION} (make one with: asymroute snapshot > FILE)`,
    );
  }
  return s as HostSnapshot;
}

function vipSources(cfg: Resolved<'check'>, snap: HostSnapshot): { vips: VipSpec[]; label: string } {
  const vips = configuredVips(cfg);
  if (vips.length > 0) {
    const origin = cfg.origin.vips;
    const label = origin === 'file' ? `from ${cfg.configFile}` : origin === 'env' ? 'from ASYMROUTE_VIPS' : 'from --vip';
    return { vips, label };
  }
  const d = detectVips(snap);
  const skipped = d.skipped.length > 0 ? `; skipped ${d.skipped.join(', ')}` : '';
  return {
    vips: d.vips,
    label: `auto-detected: /32 and /128 addresses, addresses on dummy and kube-ipvs0 devices, none on CNI devices or in pod networks${skipped}`,
  };
}

export async function runCheck(argv: string[], io: Output = consoleOutput): Promise<number> {
  const cfg = resolveConfig('check', argv);
  if (cfg.positionals.length > 0)
    throw new UsageError(`unexpected argument ${JSON.stringify(cfg.positionals[0])} (see asymroute check --help)`);
  const snapshotPath = cfg.values.snapshot;
  const ip = new IpRunner();
  const snap = snapshotPath ? await loadSnapshot(snapshotPath) : await readHostState({ ip });
  const { vips, label } = vipSources(cfg, snap);
  const gateways = configuredGateways(cfg);
  const result = await checkReplyPaths({
    snapshot: snap,
    vips,
    clientCidrs: cfg.values.clients,
    managementCidrs: cfg.values.managementCidrs,
    gateways,
    oracle: snapshotPath ? async () => null : kernelOracle(ip),
    conntrack: snapshotPath ? null : await readConntrack(vips.map((v) => v.ip)),
  });
  const meta = {
    node: snap.hostname,
    takenAt: snap.takenAt,
    source: snapshotPath ? ('snapshot' as const) : ('live' as const),
    vipSource: label,
  };
  const report = checkReportJson(meta, result);
  io.out(
    cfg.values.json
      ? JSON.stringify(report, null, 2)
      : io.colour
        ? colourReport(checkReportText(meta, result))
        : checkReportText(meta, result),
  );
  return report.exitCode;
}

export async function runSnapshot(argv: string[], io: Output = consoleOutput): Promise<number> {
  if (argv.length > 0) throw new UsageError(`asymroute snapshot takes no arguments, got ${JSON.stringify(argv[0])}`);
  const snap = await readHostState();
  io.out(JSON.stringify(snap, null, 2));
  return 0;
}
