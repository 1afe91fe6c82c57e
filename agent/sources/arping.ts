// The active L2 probe: who answers ARP for a VIP on its ingress interface (iputils arping, broadcast only so every
// owner answers every probe, not just the first one). Every value is validated before it becomes an argument.

import { execa } from 'execa';
import { canonicalIp } from '../net/ip.js';
import { parseArping, type ArpingResult } from '../parsers/arping.js';
import { InvalidArgumentError, validateIfname } from './validate.js';

export const ARPING_MISSING_MESSAGE = "the 'arping' command was not found on PATH: install the iputils-arping package (Debian/Ubuntu: apt-get install iputils-arping)";

export function arpingArgs(vip: string, iface: string, count = 3): string[] {
  const ip = canonicalIp(vip);
  if (ip === null || ip.includes(':')) throw new InvalidArgumentError(`invalid IPv4 address ${JSON.stringify(vip)} for arping`);
  validateIfname(iface);
  if (!Number.isInteger(count) || count < 1 || count > 10) throw new InvalidArgumentError(`invalid probe count ${count}: 1..10`);
  return ['-b', '-c', String(count), '-w', String(count + 1), '-I', iface, ip];
}

export async function arpingProbe(vip: string, iface: string, binary = 'arping'): Promise<ArpingResult> {
  const args = arpingArgs(vip, iface);
  const r = await execa(binary, args, { reject: false, stdin: 'ignore', timeout: 15_000, env: { LC_ALL: 'C' } });
  if ((r as { code?: string }).code === 'ENOENT') throw new Error(ARPING_MISSING_MESSAGE);
  const parsed = parseArping(String(r.stdout), canonicalIp(vip)!);
  // Exit 1 with a summary means "not every probe was answered"; anything else without one is a failure.
  if (parsed.sent === null) throw new Error(`arping ${args.join(' ')} exited ${r.exitCode}: ${String(r.stderr).trim().slice(0, 200)}`);
  return parsed;
}
