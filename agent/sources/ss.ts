// TCP sockets on one port from iproute2's `ss`, for BGP session health. The filter is built from a validated number.

import { execa } from 'execa';
import { parseSs, type SsParse } from '../parsers/ss.js';
import { InvalidArgumentError } from './validate.js';

export const SS_MISSING_MESSAGE = "the 'ss' command (iproute2) was not found on PATH: install the iproute2 package (Debian/Ubuntu: apt-get install iproute2)";

export function ssArgs(port: number): string[] {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new InvalidArgumentError(`invalid port ${port}: 1..65535`);
  return ['-H', '-t', '-a', '-n', `sport = :${port} or dport = :${port}`];
}

export async function readTcpSockets(port: number, binary = 'ss'): Promise<SsParse> {
  const r = await execa(binary, ssArgs(port), { reject: false, stdin: 'ignore', timeout: 10_000, env: { LC_ALL: 'C' } });
  if ((r as { code?: string }).code === 'ENOENT') throw new Error(SS_MISSING_MESSAGE);
  if (r.exitCode !== 0) throw new Error(`ss ${ssArgs(port).join(' ')} exited ${r.exitCode}: ${String(r.stderr).trim().slice(0, 200)}`);
  return parseSs(String(r.stdout));
}
