// Where a VIP's replies enter the routing decision. A local socket on the VIP sends them (output path, source VIP);
// a DNAT'd backend on this host (hostNetwork) sends them from its own address; a pod, here or on another node, has
// them forwarded: received on the device toward it, routed with its address as source, de-NATed only afterwards.
// The packet mark at that decision comes from the ruleset's MARK/CONNMARK rules, evaluated here.

import type { HostSnapshot } from '../model/host-state.js';
import type { ConntrackEntry, NetfilterState } from '../model/netfilter.js';
import type { Family } from '../net/ip.js';
import { dnatBackends, evaluateMarks, laterConnmarkWriters, type MarkResult, type PacketContext } from './netfilter-eval.js';

export type PathKind = 'local' | 'host-backend' | 'forwarded' | 'destination-only';

export type BackendSource = 'iptables' | 'nft' | 'conntrack' | 'endpointslice';

export interface Backend {
  ip: string;
  port: number | null;
  /** the VIP port whose traffic goes to it, when known */
  vipPort: number | null;
  sources: BackendSource[];
  /** the DNAT rules that name it */
  rules: string[];
  /** an address of this host (hostNetwork backend, node port): its replies are sent locally */
  local: boolean;
  /** the device its replies arrive on (forwarded backends), and how that was found */
  iif: string | null;
  iifReason: string;
  /** conntrack saw its connections SNAT'd to a node address (externalTrafficPolicy: Cluster) */
  snat: boolean | null;
  /** connection marks conntrack shows on its connections */
  ctMarks: number[];
  /** Kubernetes: the node its endpoint is on */
  node: string | null;
}

export interface EndpointInfo {
  ip: string;
  port: number | null;
  node: string | null;
}

/** Backends per the ruleset, conntrack and EndpointSlices; iif is filled in later from the kernel's route to each. */
export function gatherBackends(
  vip: string,
  family: Family,
  snap: HostSnapshot,
  conntrack: ConntrackEntry[] | null,
  endpoints: EndpointInfo[] | null,
): { backends: Backend[]; blind: string[] } {
  const out = new Map<string, Backend>();
  const isLocal = (ip: string) => snap.addrs.some((a) => a.local === ip);
  const add = (ip: string, port: number | null, vipPort: number | null, source: BackendSource, extra: Partial<Backend> = {}) => {
    const k = `${ip}|${port ?? ''}`;
    const b = out.get(k) ?? {
      ip,
      port,
      vipPort,
      sources: [],
      rules: [],
      local: isLocal(ip),
      iif: null,
      iifReason: '',
      snat: null,
      ctMarks: [],
      node: null,
    };
    if (!b.sources.includes(source)) b.sources.push(source);
    if (b.vipPort === null) b.vipPort = vipPort;
    if (extra.rules) b.rules.push(...extra.rules.filter((r) => !b.rules.includes(r)));
    if (extra.snat !== undefined && extra.snat !== null) b.snat = (b.snat ?? false) || extra.snat;
    if (extra.ctMarks) for (const m of extra.ctMarks) if (!b.ctMarks.includes(m)) b.ctMarks.push(m);
    if (extra.node) b.node = extra.node;
    out.set(k, b);
  };
  let blind: string[] = [];
  if (snap.netfilter) {
    const d = dnatBackends(snap.netfilter.chains, vip, family);
    blind = d.blind;
    for (const b of d.backends) add(b.ip, b.port, b.vipPort, b.origin === 'nft' ? 'nft' : 'iptables', { rules: [b.rule] });
  }
  for (const e of conntrack ?? []) {
    if (e.orig.dst !== vip || e.reply.src === vip) continue;
    add(e.reply.src, e.reply.sport, e.orig.dport, 'conntrack', { snat: e.reply.dst !== e.orig.src, ctMarks: [e.mark] });
  }
  for (const e of endpoints ?? []) add(e.ip, e.port, null, 'endpointslice', { node: e.node });
  return { backends: [...out.values()], blind };
}

/** Why the ruleset cannot answer for marks, or null when it can. */
export function rulesetBlindness(snap: HostSnapshot, family: Family): string | null {
  const nf: NetfilterState | undefined = snap.netfilter;
  if (!nf) return 'the snapshot holds no netfilter ruleset (taken without it)';
  if (nf.errors.length > 0) return `the netfilter ruleset could not be read: ${nf.errors.join('; ')}`;
  const later = laterConnmarkWriters(nf.chains, family);
  if (later.length > 0) return `connection marks are also written after PREROUTING, which the model does not evaluate (${later[0]})`;
  return null;
}

export interface MarkFor {
  mark: number | null;
  /** why mark is null */
  reason: string | null;
  /** rules that set it */
  applied: string[];
}

/**
 * The mark a reply carries at its routing decision: the connection's mark from its first packet, then the reply's hook.
 * `blind` is rulesetBlindness(snap, family), worked out by the caller once per VIP rather than per question.
 */
export function replyMark(
  snap: HostSnapshot,
  blind: string | null,
  q: {
    family: Family;
    ingress: string;
    client: string;
    vip: string;
    vipPort: number | null;
    kind: PathKind;
    iif: string | null;
    src: string;
    srcPort: number | null;
    snat: boolean | null;
  },
): MarkFor {
  if (blind) return { mark: null, reason: blind, applied: [] };
  const chains = snap.netfilter!.chains;
  const proto = 'tcp';
  const first: PacketContext = {
    family: q.family,
    hook: 'prerouting',
    iif: q.ingress,
    src: q.client,
    dst: q.vip,
    proto,
    sport: null,
    dport: q.vipPort,
    ctstate: 'new',
    mark: 0,
    ctmark: 0,
  };
  const conn = evaluateMarks(chains, first);
  if (conn.kind !== 'known') return { mark: null, reason: markFailure('a request arriving on ' + q.ingress, conn), applied: [] };
  // A forwarded reply (from a pod) meets PREROUTING on the veth it came in by; a local one meets OUTPUT.
  const forwarded = q.kind === 'forwarded';
  const reply: PacketContext = {
    family: q.family,
    hook: forwarded ? 'prerouting' : 'output',
    iif: forwarded ? q.iif : null,
    src: q.src,
    dst: forwarded && q.snat !== false ? null : q.client,
    proto,
    sport: q.srcPort,
    dport: null,
    ctstate: 'established',
    mark: 0,
    ctmark: conn.ctmark,
  };
  const r = evaluateMarks(chains, reply);
  if (r.kind !== 'known') return { mark: null, reason: markFailure('the reply', r), applied: [] };
  return { mark: r.mark, reason: null, applied: [...conn.applied, ...r.applied] };
}

function markFailure(what: string, r: Exclude<MarkResult, { kind: 'known' }>): string {
  return r.kind === 'dropped' ? `${what} is dropped by ${r.rule}` : `the mark of ${what} is unknown: ${r.reason}`;
}

/** eBPF datapaths that handle packets before (or instead of) the kernel's routing decision. */
export function ebpfDatapath(snap: HostSnapshot, ingress: string | null): string[] {
  const out: string[] = [];
  if (snap.links.some((l) => l.name === 'cilium_host'))
    out.push(
      'Cilium (cilium_host): its eBPF programs may redirect replies past the routing decision asymroute models, and past the capture',
    );
  for (const l of snap.links) if (l.xdp && (ingress === null || l.name === ingress)) out.push(`an XDP program is attached to ${l.name}`);
  for (const t of snap.tcBpf ?? []) if (ingress === null || t.startsWith(`${ingress} `)) out.push(`a tc eBPF program is attached: ${t}`);
  return out;
}
