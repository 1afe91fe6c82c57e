// Reads the netfilter ruleset (iptables-nft, iptables-legacy, native nftables) and the conntrack entries of the
// VIPs. Reading either needs CAP_NET_ADMIN; what cannot be read is reported, and the analysis says unknown.

import type { ConntrackEntry, ConntrackRead, NetfilterState, NfChain, NfOrigin } from '../model/netfilter.js';
import { parseConntrack } from '../parsers/conntrack.js';
import { parseIptablesSave } from '../parsers/iptables-save.js';
import { parseNftJson } from '../parsers/nft-json.js';
import { readFileSync } from 'node:fs';
import { parseIp } from '../net/ip.js';
import { missingMessage, type AgentBinaryName } from './binaries.js';
import { EnvironmentError, runTool } from './tool.js';
import { validateIp } from './validate.js';

const TIMEOUT_MS = 10_000;
/** conntrack entries kept per VIP: enough to see every backend, bounded whatever the traffic */
export const CONNTRACK_PER_VIP = 2048;

async function tryTool(
  bin: AgentBinaryName,
  args: string[],
): Promise<{ ok: true; stdout: string } | { ok: false; missing: boolean; error: string }> {
  const missing = missingMessage(bin);
  try {
    const r = await runTool(bin, args, { missing, timeoutMs: TIMEOUT_MS });
    if (r.exitCode !== 0)
      return {
        ok: false,
        missing: false,
        error: `${[bin, ...args].join(' ')} exited ${r.exitCode}: ${r.stderr.trim().split('\n')[0] || '(no message)'}`,
      };
    return { ok: true, stdout: r.stdout };
  } catch (e) {
    if (e instanceof EnvironmentError) return { ok: false, missing: e.message === missing, error: e.message };
    throw e;
  }
}

/**
 * Whether this network namespace holds legacy (x_tables) tables: /proc/net/ip_tables_names lists them, and is absent
 * when the module is not loaded. Unreadable: assume it may (the tool then runs as before). Saves two spawns a check.
 */
export function legacyTablesPresent(family: 4 | 6, proc = '/proc/net'): boolean {
  try {
    return readFileSync(`${proc}/${family === 4 ? 'ip' : 'ip6'}_tables_names`, 'utf8').trim() !== '';
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

export async function readNetfilter(): Promise<NetfilterState> {
  const chains: NfChain[] = [];
  const read: string[] = [];
  const errors: string[] = [];
  const saves: Array<{ bins: AgentBinaryName[]; origin: NfOrigin; required: boolean }> = [
    { bins: ['iptables-nft-save', 'iptables-save'], origin: 'iptables', required: true },
    { bins: ['ip6tables-nft-save', 'ip6tables-save'], origin: 'ip6tables', required: true },
    { bins: ['iptables-legacy-save'], origin: 'iptables-legacy', required: false },
    { bins: ['ip6tables-legacy-save'], origin: 'ip6tables-legacy', required: false },
  ];
  for (const s of saves) {
    const family = s.origin === 'iptables-legacy' ? 4 : s.origin === 'ip6tables-legacy' ? 6 : null;
    if (family !== null && !legacyTablesPresent(family)) {
      read.push(`${s.bins[0]}: not run, no legacy tables in this namespace (/proc/net/${family === 4 ? 'ip' : 'ip6'}_tables_names)`);
      continue;
    }
    let done = false;
    for (const bin of s.bins) {
      const r = await tryTool(bin, []);
      if (!r.ok && r.missing) continue;
      done = true;
      if (!r.ok) {
        // legacy tables that are not loaded print nothing; an error there is only worth a note
        errors.push(r.error);
        break;
      }
      const c = parseIptablesSave(r.stdout, s.origin);
      chains.push(...c);
      read.push(`${bin}: ${c.reduce((n, x) => n + x.rules.length, 0)} rules in ${c.length} chains`);
      break;
    }
    if (!done && s.required) errors.push(missingMessage(s.bins.at(-1)!));
  }
  const nft = await tryTool('nft', ['-j', 'list', 'ruleset']);
  if (nft.ok) {
    let doc: unknown = null;
    try {
      doc = JSON.parse(nft.stdout || '{"nftables":[]}');
    } catch (e) {
      errors.push(`nft -j list ruleset printed invalid JSON: ${(e as Error).message}`);
    }
    if (doc !== null) {
      const p = parseNftJson(doc);
      if ('error' in p) errors.push(`nft -j list ruleset: ${p.error}`);
      else {
        chains.push(...p.chains);
        read.push(`nft -j list ruleset: ${p.chains.reduce((n, x) => n + x.rules.length, 0)} native rules in ${p.chains.length} chains`);
      }
    }
  } else {
    errors.push(nft.error);
  }
  return { chains, read, errors };
}

export async function readConntrack(vips: string[]): Promise<ConntrackRead> {
  const byVip: Record<string, ConntrackEntry[]> = {};
  let truncated = 0;
  for (const vip of vips) {
    const ip = validateIp(vip);
    const fam = parseIp(ip)!.family === 6 ? 'ipv6' : 'ipv4';
    const r = await tryTool('conntrack', ['-L', '-f', fam, '--orig-dst', ip]);
    if (!r.ok) return { byVip, truncated, error: r.error };
    const p = parseConntrack(r.stdout, CONNTRACK_PER_VIP);
    byVip[ip] = p.entries;
    const lines = r.stdout.split('\n').filter((l) => l.trim() !== '').length;
    truncated += Math.max(0, lines - p.entries.length - p.malformed);
  }
  return { byVip, truncated, error: null };
}
