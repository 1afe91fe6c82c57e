// TCP sockets on one port from iproute2's `ss`, for BGP session health. The filter is built from a validated number.

import { parseSs, type SsParse } from './ss-parse.js';
import { missingMessage } from '../sources/binaries.js';
import { runTool } from '../sources/tool.js';
import { InvalidArgumentError } from '../sources/validate.js';

export const SS_MISSING_MESSAGE = missingMessage('ss');

export function ssArgs(port: number): string[] {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new InvalidArgumentError(`invalid port ${port}: 1..65535`);
  return ['-H', '-t', '-a', '-n', `sport = :${port} or dport = :${port}`];
}

export async function readTcpSockets(port: number, binary = 'ss'): Promise<SsParse> {
  const r = await runTool(binary, ssArgs(port), { missing: SS_MISSING_MESSAGE, timeoutMs: 10_000 });
  if (r.exitCode !== 0) throw new Error(`ss ${ssArgs(port).join(' ')} exited ${r.exitCode}: ${r.stderr.trim().slice(0, 200)}`);
  return parseSs(r.stdout);
}
