// What every host command shares without loading the checks: console output and the VIPs and gateways given. Kept
// apart from check.ts so that `analyze` loads the sources and the reply-path check only when given a snapshot.

import { parseVipSpec, type VipSpec } from '../analysis/vips.js';
import type { Resolved } from '../config/load.js';
import { colourWanted } from './colour.js';

export interface Output {
  out: (s: string) => void;
  err: (s: string) => void;
  /** colour the text reports (a terminal without NO_COLOR) */
  readonly colour?: boolean;
}

export const consoleOutput: Output = {
  out: (s) => process.stdout.write(s.endsWith('\n') ? s : `${s}\n`),
  err: (s) => process.stderr.write(s.endsWith('\n') ? s : `${s}\n`),
  get colour() {
    return colourWanted();
  },
};

/** The commands that take --vip, --client, --gateway and --management-cidr. */
export type HostCommand = 'check' | 'analyze' | 'serve';

/** The VIPs given by flag, environment or config file (empty when none). */
export function configuredVips(cfg: Resolved<HostCommand>): VipSpec[] {
  const source = cfg.origin.vips === 'file' ? 'config' : 'flag';
  return cfg.values.vips.map((v) => parseVipSpec(v, source));
}

/** --gateway IFACE=IP values (validated by the schema) as a map. */
export function configuredGateways(cfg: Resolved<HostCommand>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const g of cfg.values.gateways) {
    const eq = g.indexOf('=');
    out[g.slice(0, eq)] = g.slice(eq + 1);
  }
  return out;
}
