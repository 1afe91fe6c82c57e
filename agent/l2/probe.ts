// The active L2 probe: who answers ARP for a VIP on its ingress interface (iputils arping, broadcast only so every
// owner answers every probe, not just the first one). Every value is validated before it becomes an argument.

import { canonicalIp } from '../net/ip.js';
import { parseArping, parseNdisc6, type ArpingResult } from './probe-parse.js';
import { missingMessage } from '../sources/binaries.js';
import { runTool } from '../sources/tool.js';
import { InvalidArgumentError, validateIfname } from '../sources/validate.js';

export const NDISC6_MISSING_MESSAGE = missingMessage('ndisc6');
export const ARPING_MISSING_MESSAGE = missingMessage('arping');

export function arpingArgs(vip: string, iface: string, count = 3): string[] {
  const ip = canonicalIp(vip);
  if (ip === null || ip.includes(':')) throw new InvalidArgumentError(`invalid IPv4 address ${JSON.stringify(vip)} for arping`);
  validateIfname(iface);
  if (!Number.isInteger(count) || count < 1 || count > 10) throw new InvalidArgumentError(`invalid probe count ${count}: 1..10`);
  return ['-b', '-c', String(count), '-w', String(count + 1), '-I', iface, ip];
}

export async function arpingProbe(vip: string, iface: string, binary = 'arping'): Promise<ArpingResult> {
  const args = arpingArgs(vip, iface);
  const r = await runTool(binary, args, { missing: ARPING_MISSING_MESSAGE, timeoutMs: 15_000 });
  const parsed = parseArping(r.stdout, canonicalIp(vip)!);
  // Exit 1 with a summary means "not every probe was answered"; anything else without one is a failure.
  if (parsed.sent === null) throw new Error(`arping ${args.join(' ')} exited ${r.exitCode}: ${r.stderr.trim().slice(0, 200)}`);
  return parsed;
}

/** IPv6: neighbour solicitations for the VIP (ndisc6, waiting for every answer, not only the first). */
export function ndiscArgs(vip: string, iface: string): string[] {
  const ip = canonicalIp(vip);
  if (ip === null || !ip.includes(':')) throw new InvalidArgumentError(`invalid IPv6 address ${JSON.stringify(vip)} for ndisc6`);
  validateIfname(iface);
  return ['-m', '-n', '-r', '3', '-w', '1000', ip, iface];
}

export async function ndiscProbe(vip: string, iface: string, binary = 'ndisc6'): Promise<ArpingResult> {
  const args = ndiscArgs(vip, iface);
  const r = await runTool(binary, args, { missing: NDISC6_MISSING_MESSAGE, timeoutMs: 15_000 });
  const parsed = parseNdisc6(r.stdout);
  // Exit 2 is "No response."; 0 an answer; anything else (or no "Soliciting" line) a failure.
  if (parsed.sent === null || (r.exitCode !== 0 && r.exitCode !== 2))
    throw new Error(`ndisc6 ${args.join(' ')} exited ${r.exitCode}: ${r.stderr.trim().slice(0, 200)}`);
  return parsed;
}
