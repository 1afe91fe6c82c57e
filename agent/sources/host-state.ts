// Reads the host state (links, addresses, routes, rules, neighbours, sysctls) of the namespace it runs in.

import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { SNAPSHOT_VERSION, type HostSnapshot, type Link, type Sysctls } from '../model/host-state.js';
import type { NetfilterState } from '../model/netfilter.js';
import { parseAddrs, parseLinks, parseNeighbours, parseRoutes, parseRules } from '../parsers/ip-json.js';
import { parseNetstat } from '../parsers/proc.js';
import { IpRunner } from './ip-command.js';
import { missingMessage } from './binaries.js';
import { readNetfilter } from './netfilter.js';
import { runTool } from './tool.js';
import { cniDevice } from '../net/cni-devices.js';
import { validateIfname, validateNetnsName } from './validate.js';

/** Reads a /proc file; returns null when it does not exist (a sysctl absent on this kernel). */
export type ProcReader = (path: string) => Promise<string | null>;

export const localProcReader: ProcReader = async (path) => {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw e;
  }
};

// /proc/sys/net and /proc/net belong to the reader's namespace, so a namespace's files are read by a child inside it.
export function netnsProcReader(netns: string): ProcReader {
  const ns = validateNetnsName(netns);
  return async (path) => {
    const { execa } = await import('execa');
    const r = await execa('ip', ['netns', 'exec', ns, 'cat', path], { reject: false, stdin: 'ignore', timeout: 10_000 });
    return r.exitCode === 0 ? String(r.stdout) : null;
  };
}

async function readInt(read: ProcReader, path: string): Promise<number | null> {
  const text = await read(path);
  if (text === null) return null;
  const n = Number(text.trim());
  return Number.isInteger(n) ? n : null;
}

async function readPerInterface(read: ProcReader, key: string, names: string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const name of ['all', 'default', ...names]) {
    const v = await readInt(read, `/proc/sys/net/ipv4/conf/${name}/${key}`);
    if (v !== null) out[name] = v;
  }
  return out;
}

async function readSysctls(read: ProcReader, links: Link[]): Promise<Sysctls> {
  const names = links.map((l) => validateIfname(l.name));
  return {
    ipForward: await readInt(read, '/proc/sys/net/ipv4/ip_forward'),
    ipv6Forwarding: await readInt(read, '/proc/sys/net/ipv6/conf/all/forwarding'),
    forwarding: await readPerInterface(read, 'forwarding', names),
    rpFilter: await readPerInterface(read, 'rp_filter', names),
    srcValidMark: await readPerInterface(read, 'src_valid_mark', names),
    arpIgnore: await readPerInterface(read, 'arp_ignore', names),
    arpAnnounce: await readPerInterface(read, 'arp_announce', names),
    fibMultipathHashPolicy: await readInt(read, '/proc/sys/net/ipv4/fib_multipath_hash_policy'),
    ignoreRoutesWithLinkdown: await readPerInterface(read, 'ignore_routes_with_linkdown', names),
  };
}

export interface HostReaderOptions {
  ip?: IpRunner;
  proc?: ProcReader;
  hostname?: string;
  /** the ruleset reader; null skips it (a reader aimed at another namespace cannot run nft there) */
  netfilter?: (() => Promise<NetfilterState>) | null;
}

export async function readHostState(opts: HostReaderOptions = {}): Promise<HostSnapshot> {
  const ip = opts.ip ?? new IpRunner();
  const proc = opts.proc ?? localProcReader;
  const links = parseLinks(await ip.json(['-d', 'link', 'show']));
  const addrs = parseAddrs(await ip.json(['addr', 'show']));
  const routes = [
    ...parseRoutes(await ip.json(['-4', 'route', 'show', 'table', 'all']), 4),
    ...parseRoutes(await ip.json(['-6', 'route', 'show', 'table', 'all']), 6),
  ];
  const rules = [...parseRules(await ip.json(['-4', 'rule', 'show']), 4), ...parseRules(await ip.json(['-6', 'rule', 'show']), 6)];
  const neighbours = [
    ...parseNeighbours(await ip.json(['-4', 'neigh', 'show']), 4),
    ...parseNeighbours(await ip.json(['-6', 'neigh', 'show']), 6),
  ];
  const sysctls = await readSysctls(proc, links);
  const tcBpf = await readTcBpf(links);
  const netstat = await proc('/proc/net/netstat');
  return {
    version: SNAPSHOT_VERSION,
    takenAt: new Date().toISOString(),
    hostname: opts.hostname ?? hostname(),
    links,
    addrs,
    routes,
    rules,
    neighbours,
    sysctls,
    ipReversePathFilter: netstat === null ? null : (parseNetstat(netstat).TcpExt?.IPReversePathFilter ?? null),
    ...(tcBpf ? { tcBpf } : {}),
    ...(opts.netfilter === null ? {} : { netfilter: await (opts.netfilter ?? readNetfilter)() }),
  };
}

/** Devices tc is asked about: a node's own interfaces, not its (possibly thousands of) pod veths. */
const TC_DEVICES_MAX = 16;

// eBPF datapaths (Cilium, Calico eBPF) attach tc programs to the node's interfaces; their redirects bypass routing.
async function readTcBpf(links: Link[]): Promise<string[] | null> {
  const devs = links.filter((l) => l.name !== 'lo' && l.kind !== 'veth' && !cniDevice(l.name)).slice(0, TC_DEVICES_MAX);
  const out: string[] = [];
  for (const l of devs) {
    for (const dir of ['ingress', 'egress']) {
      let r;
      try {
        r = await runTool('tc', ['-j', 'filter', 'show', 'dev', validateIfname(l.name), dir], {
          missing: missingMessage('tc'),
          timeoutMs: 5000,
        });
      } catch {
        return null;
      }
      if (r.exitCode !== 0 || r.stdout.trim() === '') continue;
      let list: unknown;
      try {
        list = JSON.parse(r.stdout);
      } catch {
        continue;
      }
      if (!Array.isArray(list)) continue;
      for (const f of list) {
        const o = f as { kind?: unknown; options?: { bpf_name?: unknown } };
        if (o.kind === 'bpf')
          out.push(`${l.name} ${dir}: bpf ${typeof o.options?.bpf_name === 'string' ? o.options.bpf_name : '(unnamed)'}`);
      }
    }
  }
  return out;
}
