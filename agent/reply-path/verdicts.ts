// Reply-path verdicts: for each VIP, do replies leave on the interface the requests arrive on? The kernel's answer
// (`ip route get`) is authoritative when available; the route model explains it (which rule, which route) and answers
// alone for offline snapshots. This module asks the questions and builds the reports; findings.ts words them.

import { addressInPrefix, formatIp, formatPrefix, isLinkLocal, parseIp, parsePrefix, prefixContains, type Family } from '../net/ip.js';
import type { HostSnapshot, Route, Rule } from '../model/host-state.js';
import type { ConntrackRead } from '../model/netfilter.js';
import type { KernelOracle, KernelVerdict, RouteQuestion } from '../model/route-question.js';
import { cniDevice } from '../net/cni-devices.js';
import { describeRoute, describeRule, RouteModel, type ModelAnswer } from '../analysis/route-model.js';
import {
  chooseIngress,
  connectedSubnets,
  vipHolder,
  type Announcement,
  type BgpAnnouncement,
  type IngressChoice,
  type KubeVipHolder,
  type VipSpec,
} from '../analysis/vips.js';
import {
  ebpfDatapath,
  gatherBackends,
  replyMark,
  rulesetBlindness,
  type Backend,
  type EndpointInfo,
  type PathKind,
} from './forward-path.js';

export type ClientKind = 'default-destination' | 'client-cidr' | 'gateway' | 'observed';

export type PathVerdict = 'symmetric' | 'asymmetric' | 'unroutable' | 'unknown' | 'connected-elsewhere' | 'no-ingress';

export interface PathReport {
  /** local: a socket on the VIP; host-backend: DNAT'd to an address of this host; forwarded: DNAT'd to a pod (reply
   * forwarded); destination-only: no backend known, the reply's destination alone was asked */
  kind: PathKind;
  /** the backend whose replies this path follows (null for local sockets and destination-only) */
  backend: string | null;
  /** the packet mark the reply carries at its routing decision; null when unknown */
  mark: number | null;
  /** why the verdict is unknown, or what the model could not evaluate */
  reason: string | null;
  client: string;
  clientKind: ClientKind;
  /** the client CIDR this address stands for, when it came from one */
  cidr: string | null;
  question: RouteQuestion;
  kernel: KernelVerdict | null;
  model: ModelSummary;
  /** interfaces the reply may leave on (kernel's choice, else the model's candidates) */
  egress: string[];
  gateway: string | null;
  verdict: PathVerdict;
  rule: string | null;
  route: string | null;
  modelAgrees: boolean | null;
}

export interface ModelSummary {
  kind: ModelAnswer['kind'];
  devs: string[];
  gateways: (string | null)[];
  errno: string | null;
  reason: string | null;
  rule: string | null;
  route: string | null;
  table: string | null;
  note: string | null;
  /** the deciding rule's priority, the route's destination and table, for readers of the JSON report */
  rulePriority: number | null;
  routeDst: string | null;
  routeTable: string | null;
}

export interface VipReport {
  ip: string;
  source: VipSpec['source'];
  service: string | null;
  holder: string | null;
  ingress: string | null;
  ingressReason: string;
  /** MetalLB L2 announcement, when known */
  announcement: Announcement | null;
  /** MetalLB BGP advertisement (ServiceBGPStatus), when known */
  bgp: BgpAnnouncement | null;
  /** kube-vip's holder (its Lease, or the Service's kube-vip.io/vipHost annotation), when known */
  kubeVip: KubeVipHolder | null;
  subnet: string | null;
  rpFilter: number | null;
  /** where the VIP's traffic is DNAT'd to, and where those replies arrive */
  backends: Backend[];
  /** parts of the datapath asymroute cannot see (eBPF, unreadable rules) */
  blind: string[];
  paths: PathReport[];
}

export interface CheckInput {
  snapshot: HostSnapshot;
  vips: VipSpec[];
  clientCidrs: string[];
  observedClients?: string[];
  managementCidrs: string[];
  /** gateway per ingress interface, when the operator knows it better than the host does */
  gateways?: Record<string, string>;
  oracle: KernelOracle;
  /** connections to the VIPs (live backends and marks); null when not read (offline snapshot) */
  conntrack?: ConntrackRead | null;
  /** Kubernetes EndpointSlice addresses per VIP */
  endpoints?: Record<string, EndpointInfo[]>;
}

/** One path's report with the rule and route that decided it in the model: remediation is built from these. */
export interface PathAnalysis {
  report: PathReport;
  rule: Rule | null;
  route: Route | null;
}

/** A request whose reverse path strict rp_filter rejects: the kernel (or the model) answered the input lookup with EINVAL. */
export interface RpFilterDrop {
  path: PathReport;
  question: RouteQuestion;
  kernel: KernelVerdict | null;
  model: ModelSummary;
}

/** Everything the verdicts found for one VIP: its public report plus what finding authoring needs beyond it. */
export interface VipAnalysis {
  spec: VipSpec;
  report: VipReport;
  family: Family;
  /** the VIP is an address of this host */
  local: boolean;
  ingress: IngressChoice;
  paths: PathAnalysis[];
  rpFilterDrops: RpFilterDrop[];
}

// Well-known NAT/management networks a node's default route should not point into when VIPs live elsewhere.
export const DEFAULT_MANAGEMENT_CIDRS = ['10.0.2.0/24', '192.168.121.0/24', '192.168.122.0/24', '172.17.0.0/16'];

const INTERNET_PROBES: Record<Family, string[]> = {
  4: ['203.0.113.77', '198.51.100.77', '192.0.2.77', '8.8.8.8', '1.1.1.1'],
  6: ['2001:db8:ffff::77', '2606:4700:4700::1111', '2001:4860:4860::8888'],
};

function summariseModel(a: ModelAnswer): ModelSummary {
  const rule = a.kind !== 'unknown' && a.rule ? describeRule(a.rule) : null;
  const route = a.kind !== 'unknown' && a.route ? describeRoute(a.route) : null;
  return {
    kind: a.kind,
    devs: a.kind === 'route' ? a.candidates.map((c) => c.dev) : [],
    gateways: a.kind === 'route' ? a.candidates.map((c) => c.gateway) : [],
    errno: a.kind === 'error' ? a.errno : null,
    reason: a.kind === 'unknown' ? a.reason : a.kind === 'error' ? a.reason : null,
    rule,
    route,
    table: a.kind === 'route' ? a.table : null,
    note: a.kind !== 'unknown' ? (a.note ?? null) : null,
    rulePriority: a.kind !== 'unknown' && a.rule ? a.rule.priority : null,
    routeDst: a.kind !== 'unknown' && a.route ? a.route.dst : null,
    routeTable: a.kind !== 'unknown' && a.route ? a.route.table : null,
  };
}

/** Does the model's answer account for what the kernel said? */
export function modelAgrees(m: ModelAnswer, k: KernelVerdict): boolean | null {
  if (m.kind === 'unknown') return null;
  if (!k.ok) return m.kind === 'error' && m.errno === k.errno;
  if (m.kind !== 'route') return false;
  if (m.type !== k.type && !(m.type === 'unicast' && k.type === 'unicast')) return false;
  return m.candidates.some((c) => c.dev === k.dev && (c.gateway ?? null) === (k.gateway ?? null));
}

function defaultDestination(model: RouteModel, family: Family): string {
  // Prefer a documentation address that only a default route covers, so it stands for "any Internet client".
  const specific = model.snapshot.routes.filter(
    (r) => r.family === family && r.type !== 'local' && r.type !== 'broadcast' && r.dst !== 'default',
  );
  for (const c of INTERNET_PROBES[family]) {
    const ip = parseIp(c)!;
    if (!specific.some((r) => prefixContains(parsePrefix(r.dst, family)!, ip))) return c;
  }
  return INTERNET_PROBES[family][0]!;
}

interface Client {
  ip: string;
  kind: ClientKind;
  cidr: string | null;
}

function representativeClients(input: CheckInput, model: RouteModel, family: Family): Client[] {
  const out: Client[] = [{ ip: defaultDestination(model, family), kind: 'default-destination', cidr: null }];
  for (const c of input.clientCidrs) {
    const p = parsePrefix(c);
    if (!p || p.family !== family) continue;
    const host = p.len >= (family === 4 ? 31 : 127) ? addressInPrefix(p, 0n) : addressInPrefix(p, 1n);
    out.push({ ip: formatIp(host), kind: 'client-cidr', cidr: formatPrefix(p) });
  }
  for (const r of input.snapshot.routes) {
    if (r.family !== family) continue;
    // A CNI's own gateways (flannel's onlink peers, cilium_host's address) are not where VIP clients live.
    for (const n of r.nexthops) {
      if (!n.gateway || isLinkLocal(parseIp(n.gateway)!) || (n.dev && cniDevice(n.dev)) || model.isLocalAddress(parseIp(n.gateway)!))
        continue;
      out.push({ ip: n.gateway, kind: 'gateway', cidr: null });
    }
  }
  for (const o of input.observedClients ?? []) {
    const ip = parseIp(o);
    if (ip && ip.family === family) out.push({ ip: formatIp(ip), kind: 'observed', cidr: null });
  }
  const seen = new Set<string>();
  return out.filter((c) => !seen.has(c.ip) && (seen.add(c.ip), true));
}

interface ReplySource {
  kind: PathKind;
  /** the reply's source address at its routing decision (null: destination-only) */
  src: string | null;
  /** the device a forwarded reply is received on */
  iif: string | null;
  backend: Backend | null;
  /** why no verdict on this source can be "ok" */
  blindReason: string | null;
}

/** At most this many distinct reply sources are asked per VIP: backends that share a device share the decision. */
const MAX_REPLY_SOURCES = 8;

// Backends grouped by where their replies enter the routing decision: one question per group and client.
async function replySources(
  input: CheckInput,
  model: RouteModel,
  vip: string,
  family: Family,
  local: boolean,
  rulesetBlind: string | null,
  report: VipReport,
): Promise<ReplySource[]> {
  const snap = input.snapshot;
  const { backends, blind } = gatherBackends(vip, family, snap, input.conntrack?.byVip[vip] ?? null, input.endpoints?.[vip] ?? null);
  const ebpf = ebpfDatapath(snap, report.ingress);
  report.blind = [...ebpf, ...blind.map((b) => `nft rule not evaluated (backends may be missing): ${b}`)];
  if (rulesetBlind) report.blind.push(rulesetBlind);
  if (input.conntrack?.error) report.blind.push(`conntrack: ${input.conntrack.error}`);
  const ebpfReason = ebpf[0] ?? null;
  for (const b of backends) {
    if (b.local) {
      b.iifReason = 'an address of this host: replies are sent locally';
      continue;
    }
    const k = await input.oracle({ dst: b.ip });
    if (k?.ok) {
      b.iif = k.dev;
      b.iifReason = `the kernel routes ${b.ip} via ${k.dev}${cniDevice(k.dev) ? ` (${cniDevice(k.dev)})` : ''}`;
    } else {
      const m = model.lookup({ dst: b.ip });
      b.iif = m.kind === 'route' && m.candidates.length === 1 ? m.candidates[0]!.dev : null;
      b.iifReason = b.iif ? `the route model sends ${b.ip} via ${b.iif}` : `no route to ${b.ip}${k && !k.ok ? ` (${k.errno})` : ''}`;
    }
  }
  report.backends = backends;
  if (backends.length === 0) {
    // kube-proxy's IPVS mode holds VIPs on kube-ipvs0 and forwards their traffic to pods without a DNAT rule.
    const ipvs =
      report.holder === 'kube-ipvs0'
        ? `${vip} is on kube-ipvs0 (kube-proxy IPVS mode), which forwards it to backends that no conntrack entry or EndpointSlice names yet: replies from a pod would not be sent from ${vip}`
        : null;
    if (local) return [{ kind: 'local', src: vip, iif: null, backend: null, blindReason: ebpfReason ?? ipvs }];
    const why = `no DNAT rule, conntrack entry or EndpointSlice names a backend for ${vip}: what answers it on this node is not known`;
    return [
      {
        kind: 'destination-only',
        src: null,
        iif: null,
        backend: null,
        blindReason: ebpfReason ?? (blind.length > 0 ? `${why} (nft rules not evaluated: ${blind[0]})` : why),
      },
    ];
  }
  const groups = new Map<string, ReplySource>();
  for (const b of backends) {
    const key = b.local ? `host|${b.ip}` : `fwd|${b.iif ?? '?'}`;
    if (groups.has(key)) continue;
    groups.set(key, {
      kind: b.local ? 'host-backend' : 'forwarded',
      src: b.ip,
      iif: b.local ? null : b.iif,
      backend: b,
      blindReason: ebpfReason ?? (!b.local && b.iif === null ? b.iifReason : null),
    });
  }
  const all = [...groups.values()];
  if (all.length > MAX_REPLY_SOURCES)
    report.blind.push(`${all.length - MAX_REPLY_SOURCES} more reply sources not asked (at most ${MAX_REPLY_SOURCES} per VIP)`);
  return all.slice(0, MAX_REPLY_SOURCES);
}

/** Asks the kernel and the model every reply question for every VIP, and decides each path's verdict. */
export async function analyseVips(input: CheckInput): Promise<VipAnalysis[]> {
  const snap = input.snapshot;
  const model = new RouteModel(snap);
  const out: VipAnalysis[] = [];
  for (const vip of input.vips) {
    const family = parseIp(vip.ip)!.family;
    const holder = vipHolder(vip.ip, snap);
    const local = holder !== null;
    const ing = chooseIngress(vip, snap);
    const report: VipReport = {
      ip: vip.ip,
      source: vip.source,
      service: vip.service ?? null,
      holder,
      ingress: ing.ingress,
      ingressReason: ing.reason,
      announcement: vip.announcement ?? null,
      bgp: vip.bgp ?? null,
      kubeVip: vip.kubeVip ?? null,
      subnet: ing.subnet,
      rpFilter: ing.ingress && family === 4 ? model.effectiveRpFilter(ing.ingress) : null,
      backends: [],
      blind: [],
      paths: [],
    };
    const analysis: VipAnalysis = { spec: vip, report, family, local, ingress: ing, paths: [], rpFilterDrops: [] };
    out.push(analysis);
    const clients = representativeClients(input, model, family);
    const localSubnets = connectedSubnets(snap);
    const rulesetBlind = rulesetBlindness(snap, family);
    const groups = await replySources(input, model, vip.ip, family, local, rulesetBlind, report);
    for (const c of clients) {
      for (const g of groups) {
        const markFor =
          g.kind === 'destination-only'
            ? { mark: null, reason: null, applied: [] }
            : replyMark(snap, rulesetBlind, {
                family,
                ingress: ing.ingress ?? '',
                client: c.ip,
                vip: vip.ip,
                vipPort: g.backend?.vipPort ?? null,
                kind: g.kind,
                iif: g.iif,
                src: g.src!,
                srcPort: g.backend?.port ?? null,
                snat: g.backend?.snat ?? null,
              });
        const mark = markFor.mark;
        const q: RouteQuestion = { dst: c.ip, src: g.src, ...(g.iif ? { iif: g.iif } : {}), ...(mark ? { mark } : {}) };
        const kernel = await input.oracle(q);
        const m = model.lookup(q);
        const ms = summariseModel(m);
        const agrees = kernel ? modelAgrees(m, kernel) : null;
        let egress: string[] = [];
        let gateway: string | null = null;
        let verdict: PathVerdict;
        if (kernel) {
          if (kernel.ok) {
            egress = [kernel.dev];
            gateway = kernel.gateway;
          }
        } else if (m.kind === 'route') {
          egress = [...new Set(m.candidates.map((x) => x.dev))];
          gateway = m.candidates.length === 1 ? m.candidates[0]!.gateway : null;
        }
        const clientIp = parseIp(c.ip)!;
        const elsewhere = localSubnets.find((s) => prefixContains(s.prefix, clientIp) && s.ifname !== ing.ingress);
        if ((kernel && !kernel.ok) || (!kernel && m.kind === 'error')) verdict = 'unroutable';
        else if (egress.length === 0) verdict = 'unknown';
        else if (!ing.ingress) verdict = 'no-ingress';
        else if (elsewhere) verdict = 'connected-elsewhere';
        else verdict = egress.every((d) => d === ing.ingress) ? 'symmetric' : 'asymmetric';
        // "ok" only where every part of the path was seen: marks, backends, no eBPF datapath in between.
        let reason: string | null = g.blindReason ?? (mark === null && g.kind !== 'destination-only' ? markFor.reason : null);
        // `ip route get` cannot carry a port, protocol or uid: a rule that selects on them may route real replies elsewhere.
        if (!reason && m.kind === 'unknown' && m.unevaluatedSelectors)
          reason = `${m.reason}: the kernel's answer to a question without them may not be what replies get`;
        if ((verdict === 'symmetric' || verdict === 'connected-elsewhere') && reason) verdict = 'unknown';
        if (verdict === 'unknown' && !reason)
          reason = m.kind === 'unknown' ? m.reason : 'neither the kernel nor the model gave an interface';
        const path: PathReport = {
          kind: g.kind,
          backend: g.backend?.ip ?? null,
          mark,
          reason,
          client: c.ip,
          clientKind: c.kind,
          cidr: c.cidr,
          question: q,
          kernel,
          model: ms,
          egress,
          gateway,
          verdict,
          rule: ms.rule,
          route: ms.route,
          modelAgrees: agrees,
        };
        report.paths.push(path);
        analysis.paths.push({ report: path, rule: m.kind !== 'unknown' ? m.rule : null, route: m.kind !== 'unknown' ? m.route : null });
      }
    }
    // Strict reverse-path filtering drops requests whose reverse route leaves elsewhere: the SYN never reaches a socket.
    if (family === 4 && local && ing.ingress && (report.rpFilter ?? 0) > 0) {
      for (const p of report.paths.filter((x) => x.verdict === 'asymmetric' || x.verdict === 'unroutable')) {
        if (p.clientKind === 'gateway') continue;
        const q: RouteQuestion = { dst: vip.ip, src: p.client, iif: ing.ingress };
        const kernel = await input.oracle(q);
        const m = model.lookup(q);
        const dropped = kernel ? !kernel.ok && kernel.errno === 'EINVAL' : m.kind === 'error' && m.reason === 'rp-filter';
        if (dropped) analysis.rpFilterDrops.push({ path: p, question: q, kernel, model: summariseModel(m) });
      }
    }
  }
  return out;
}
