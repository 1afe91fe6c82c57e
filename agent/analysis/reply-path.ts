// Reply-path analysis: for each VIP, do replies leave on the interface the requests arrive on?
// The kernel's answer (`ip route get`) is authoritative when available; the route model explains it
// (which rule, which route) and answers alone for offline snapshots.

import { addressInPrefix, formatIp, formatPrefix, isLinkLocal, parseIp, parsePrefix, prefixContains, type Family } from '../net/ip.js';
import type { HostSnapshot, Route } from '../model/host-state.js';
import { describeRoute, describeRule, RouteModel, type ModelAnswer } from './route-model.js';
import type { KernelOracle, KernelVerdict, RouteQuestion } from '../model/route-question.js';
import { finding, sortFindings, type Finding, type Remediation } from '../findings/registry.js';
import { chooseIngress, connectedSubnets, vipHolder, type Announcement, type VipSpec } from './vips.js';
import type { ConntrackRead } from '../model/netfilter.js';
import { cniDevice } from '../net/cni-devices.js';
import { connmarkFixes, ebpfDatapath, freeMark, gatherBackends, replyMark, rulesetBlindness, type Backend, type EndpointInfo, type PathKind } from './forward-path.js';

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
  /** the deciding rule's priority, the route's destination and table: remediation is built from these */
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

export interface CheckResult {
  vips: VipReport[];
  findings: Finding[];
}

// Well-known NAT/management networks a node's default route should not point into when VIPs live elsewhere.
export const DEFAULT_MANAGEMENT_CIDRS = ['10.0.2.0/24', '192.168.121.0/24', '192.168.122.0/24', '172.17.0.0/16'];

const INTERNET_PROBES: Record<Family, string[]> = {
  4: ['203.0.113.77', '198.51.100.77', '192.0.2.77', '8.8.8.8', '1.1.1.1'],
  6: ['2001:db8:ffff::77', '2606:4700:4700::1111', '2001:4860:4860::8888'],
};

export function summariseModel(a: ModelAnswer): ModelSummary {
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
  const specific = model.snapshot.routes.filter((r) => r.family === family && r.type !== 'local' && r.type !== 'broadcast' && r.dst !== 'default');
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
      if (!n.gateway || isLinkLocal(parseIp(n.gateway)!) || (n.dev && cniDevice(n.dev)) || model.isLocalAddress(parseIp(n.gateway)!)) continue;
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

/** The gateway on an interface, from configuration, routes or the neighbour table, with how sure we are. */
export function gatewayOn(snap: HostSnapshot, dev: string, family: Family, configured?: string): { ip: string | null; how: string } {
  if (configured) return { ip: configured, how: 'configured' };
  const fromRoutes = new Set<string>();
  for (const r of snap.routes) {
    if (r.family !== family) continue;
    for (const n of r.nexthops) if (n.dev === dev && n.gateway) fromRoutes.add(n.gateway);
  }
  if (fromRoutes.size > 0) return { ip: [...fromRoutes][0]!, how: `used by an existing route on ${dev}` };
  const neigh = snap.neighbours.filter((n) => n.family === family && n.dev === dev && n.lladdr && !n.state.includes('FAILED') && !n.state.includes('INCOMPLETE'));
  const routers = neigh.filter((n) => n.state.includes('router'));
  const pick = routers.length === 1 ? routers[0]! : neigh.length === 1 ? neigh[0]! : null;
  if (pick) return { ip: pick.dst, how: `the only ${routers.length === 1 ? 'router ' : ''}neighbour seen on ${dev}: verify it is the LAN router` };
  return { ip: null, how: `no gateway on ${dev} is known: replace <gateway-on-${dev}> with the LAN router's address` };
}

function freeTable(snap: HostSnapshot): string {
  const used = new Set([...snap.routes.map((r) => r.table), ...snap.rules.map((r) => r.table ?? '')]);
  for (let t = 100; t < 250; t++) if (!used.has(String(t))) return String(t);
  return '1000';
}

function freeRulePriority(snap: HostSnapshot, family: Family, below: number): number {
  const used = new Set(snap.rules.filter((r) => r.family === family).map((r) => r.priority));
  for (let p = below - 1; p > 0; p--) if (!used.has(p)) return p;
  return 1;
}

function fixesForAsymmetry(input: CheckInput, vip: VipReport, p: PathReport, family: Family, local: boolean): Remediation[] {
  const snap = input.snapshot;
  const ingress = vip.ingress!;
  const ipf = family === 6 ? 'ip -6' : 'ip';
  const gw = gatewayOn(snap, ingress, family, input.gateways?.[ingress]);
  const gwText = gw.ip ?? `<gateway-on-${ingress}>`;
  const out: Remediation[] = [];
  const decidingPriority = p.model.rulePriority ?? 32766;
  const table = freeTable(snap);
  const prio = freeRulePriority(snap, family, decidingPriority);
  // A source rule only catches replies a local socket sends from the VIP; DNAT'd replies carry the backend's address.
  const onlyLocalSockets = local && vip.paths.every((x) => x.kind === 'local');
  const policy = (): Remediation => {
    const cmds = [`${ipf} rule add from ${vip.ip} lookup ${table} priority ${prio}`];
    if (vip.subnet) cmds.push(`${ipf} route add ${vip.subnet} dev ${ingress} table ${table}`);
    cmds.push(`${ipf} route add default via ${gwText} dev ${ingress} table ${table}`);
    return {
      title: `policy routing: replies from ${vip.ip} use ${ingress}, the host's default route stays as it is`,
      commands: cmds,
      note: `gateway: ${gw.how}. It catches only replies that local sockets send from ${vip.ip}. Make it persistent in the network configuration (netplan routing-policy, ifupdown post-up, NetworkManager ipv4.routing-rules).`,
    };
  };
  const connmark = connmarkFixes({ family, ingress, table, priority: prio, mark: freeMark(snap), subnet: vip.subnet, gateway: gwText, gatewayHow: gw.how });
  if (onlyLocalSockets) out.push(policy(), ...connmark);
  else {
    const why = local
      ? `${vip.ip} is DNAT'd to ${vip.backends.map((b) => b.ip).join(', ')}: their replies are routed with the backend's address as source, so a "from ${vip.ip}" rule does not catch them.`
      : `${vip.ip} is not an address of this host: replies are de-NATed after routing, so a source rule cannot catch them.`;
    out.push({ ...connmark[0]!, note: `${why} ${connmark[0]!.note}` }, connmark[1]!);
  }
  const route = p.model.routeDst;
  const dev = cniDevice(ingress);
  if (route === 'default' && p.model.routeTable === 'main') {
    if (dev) {
      out.push({ title: `do not move the default route to ${ingress}`, commands: [], note: `${ingress} is a ${dev} device, not a LAN: fix the VIP's ingress (--vip ${vip.ip}@IFACE) instead` });
    } else if (!gw.ip) {
      out.push({ title: `moving the default route to ${ingress} needs its router`, commands: [], note: `${gw.how}; find it with "ip neigh show dev ${ingress}" or the DHCP lease, then pass --gateway ${ingress}=IP to get the commands` });
    } else {
      out.push({
        title: `move the default route to ${ingress}`,
        commands: [`${ipf} route del ${p.route!.split(' metric ')[0]}`, `${ipf} route add default via ${gw.ip} dev ${ingress}`],
        note: `all traffic of the host then leaves via ${ingress}; ${p.egress.join(', ')} keeps only its connected subnets (management access from elsewhere may need its own route). Gateway: ${gw.how}.`,
      });
    }
  } else if (route && route !== 'default' && !dev && gw.ip) {
    const tableSuffix = p.model.routeTable && p.model.routeTable !== 'main' ? ` table ${p.model.routeTable}` : '';
    out.push({
      title: `send ${route} via ${ingress}`,
      commands: [`${ipf} route replace ${route} via ${gw.ip} dev ${ingress}${tableSuffix}`],
      note: `the route "${p.route}" sends replies to ${p.client} away from ${ingress}. Gateway: ${gw.how}.`,
    });
  }
  return out;
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
export const MAX_REPLY_SOURCES = 8;

// Backends grouped by where their replies enter the routing decision: one question per group and client.
async function replySources(input: CheckInput, model: RouteModel, vip: string, family: Family, local: boolean, rulesetBlind: string | null, report: VipReport): Promise<ReplySource[]> {
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
    const ipvs = report.holder === 'kube-ipvs0' ? `${vip} is on kube-ipvs0 (kube-proxy IPVS mode), which forwards it to backends that no conntrack entry or EndpointSlice names yet: replies from a pod would not be sent from ${vip}` : null;
    if (local) return [{ kind: 'local', src: vip, iif: null, backend: null, blindReason: ebpfReason ?? ipvs }];
    const why = `no DNAT rule, conntrack entry or EndpointSlice names a backend for ${vip}: what answers it on this node is not known`;
    return [{ kind: 'destination-only', src: null, iif: null, backend: null, blindReason: ebpfReason ?? (blind.length > 0 ? `${why} (nft rules not evaluated: ${blind[0]})` : why) }];
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
  if (all.length > MAX_REPLY_SOURCES) report.blind.push(`${all.length - MAX_REPLY_SOURCES} more reply sources not asked (at most ${MAX_REPLY_SOURCES} per VIP)`);
  return all.slice(0, MAX_REPLY_SOURCES);
}

export async function checkReplyPaths(input: CheckInput): Promise<CheckResult> {
  const snap = input.snapshot;
  const model = new RouteModel(snap);
  const findings: Finding[] = [];
  const reports: VipReport[] = [];
  const managementCidrs = input.managementCidrs.map((c) => parsePrefix(c)).filter((p) => p !== null);

  for (const vip of input.vips) {
    const ip = parseIp(vip.ip)!;
    const family = ip.family;
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
      subnet: ing.subnet,
      rpFilter: ing.ingress && family === 4 ? model.effectiveRpFilter(ing.ingress) : null,
      backends: [],
      blind: [],
      paths: [],
    };
    reports.push(report);
    const label = vip.service ? `${vip.ip} (${vip.service})` : vip.ip;
    if (!local) {
      findings.push(finding('vip-not-local', {
        vip: vip.ip,
        summary: `${label} is not an address of this host: replies are routed by destination only`,
        evidence: [`no interface holds ${vip.ip} (ip -j addr)`],
        remediation: [],
      }));
    }
    if (!ing.subnet && !ing.configured) {
      findings.push(finding('vip-outside-connected-subnets', {
        vip: vip.ip,
        summary: `${label} lies in no connected subnet: L2 (ARP/NDP) announcements cannot reach clients`,
        evidence: [`connected subnets: ${connectedSubnets(snap).map((s) => `${formatPrefix(s.prefix)} on ${s.ifname}`).join(', ') || 'none'}`],
        remediation: [
          { title: 'allocate the VIP from a LAN subnet (L2 mode)', commands: [], note: 'MetalLB L2 mode answers ARP/NDP only for clients on the same segment.' },
          { title: 'or announce it with BGP and pin its ingress interface', commands: [], note: `run asymroute with --vip ${vip.ip}@<interface towards the BGP router>` },
        ],
        ingress: null,
      }));
    }
    const clients = representativeClients(input, model, family);
    const localSubnets = connectedSubnets(snap);
    const rulesetBlind = rulesetBlindness(snap, family);
    const groups = await replySources(input, model, vip.ip, family, local, rulesetBlind, report);
    for (const c of clients) {
      for (const g of groups) {
        const markFor = g.kind === 'destination-only' ? { mark: null, reason: null, applied: [] } : replyMark(snap, rulesetBlind, { family, ingress: ing.ingress ?? '', client: c.ip, vip: vip.ip, vipPort: g.backend?.vipPort ?? null, kind: g.kind, iif: g.iif, src: g.src!, srcPort: g.backend?.port ?? null, snat: g.backend?.snat ?? null });
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
        if (!reason && m.kind === 'unknown' && /uses selectors the model does not evaluate/.test(m.reason)) reason = `${m.reason}: the kernel's answer to a question without them may not be what replies get`;
        if ((verdict === 'symmetric' || verdict === 'connected-elsewhere') && reason) verdict = 'unknown';
        if (verdict === 'unknown' && !reason) reason = m.kind === 'unknown' ? m.reason : 'neither the kernel nor the model gave an interface';
        report.paths.push({ kind: g.kind, backend: g.backend?.ip ?? null, mark, reason, client: c.ip, clientKind: c.kind, cidr: c.cidr, question: q, kernel, model: ms, egress, gateway, verdict, rule: ms.rule, route: ms.route, modelAgrees: agrees });

        if (agrees === false) {
          findings.push(finding('route-model-mismatch', {
            vip: vip.ip,
            summary: `the route model disagrees with the kernel for replies to ${c.ip}: the kernel's answer is used`,
            evidence: [`${questionText(q)}`, `kernel: ${kernelText(kernel!)}`, `model: ${modelText(ms)}`],
            remediation: [{ title: 'report this with the snapshot attached (asymroute snapshot > snapshot.json)', commands: [] }],
            client: c.ip,
          }));
        } else if (m.kind === 'unknown') {
          findings.push(finding('route-model-unknown', {
            vip: vip.ip,
            summary: `the route model cannot explain replies to ${c.ip}: ${m.reason}`,
            evidence: kernel ? [`kernel: ${kernelText(kernel)}`] : ['no kernel answer (offline snapshot)'],
            remediation: [],
            client: c.ip,
          }));
        }
      }
    }
    const unknown = report.paths.filter((p) => p.verdict === 'unknown' && p.clientKind !== 'gateway');
    if (unknown.length > 0) {
      const reasons = [...new Set(unknown.map((p) => p.reason ?? 'unknown'))];
      findings.push(finding('reply-path-unknown', {
        vip: vip.ip,
        summary: `${label}: asymroute cannot tell where replies leave for ${unknown.length} of ${report.paths.length} paths: ${reasons[0]}`,
        evidence: [...reasons.map((r) => `why: ${r}`), ...unknown.slice(0, 4).map((p) => `${questionText(p.question)}${p.kernel ? ` -> ${kernelText(p.kernel)}` : ''}`)],
        remediation: [{ title: 'make the path visible', commands: [], note: 'run asymroute with CAP_NET_ADMIN so it can read the ruleset and conntrack (iptables-save, nft -j list ruleset, conntrack -L); on an eBPF datapath (Cilium), verify with live evidence (asymroute serve) or the datapath\'s own tools (cilium-dbg monitor)' }],
        ingress: ing.ingress,
      }));
    }
    const asym = report.paths.filter((p) => p.verdict === 'asymmetric');
    const byEgress = new Map<string, PathReport[]>();
    for (const p of asym) {
      const k = p.egress.join(',');
      byEgress.set(k, [...(byEgress.get(k) ?? []), p]);
    }
    for (const [egress, paths] of byEgress) {
      const p = paths[0]!;
      const evidence = paths.map((x) => `${questionText(x.question)} -> ${x.kernel ? kernelText(x.kernel) : `model: ${modelText(x.model)}`} (${clientLabel(x)}; ${sourceLabel(x)})`);
      if (p.rule) evidence.push(`decided by rule ${p.rule}${p.route ? `, route ${p.route}` : ''}`);
      for (const x of paths) if (x.reason) evidence.push(`note: ${x.reason}`);
      findings.push(finding('asymmetric-reply-path', {
        vip: vip.ip,
        summary: `${label}: requests arrive on ${ing.ingress}, replies to ${[...new Set(paths.map((x) => x.cidr ?? x.client))].join(', ')} leave on ${egress}${p.route ? ` (${p.route})` : ''}${sourcesText(paths)}`,
        evidence,
        remediation: fixesForAsymmetry(input, report, p, family, local),
        ingress: ing.ingress,
        egress,
        client: p.client,
        rule: p.rule,
        route: p.route,
      }));
    }
    for (const p of report.paths.filter((x) => x.verdict === 'unroutable' && x.clientKind !== 'gateway')) {
      findings.push(finding('reply-unroutable', {
        vip: vip.ip,
        summary: `${label}: replies to ${p.cidr ?? p.client} have no route (${p.kernel && !p.kernel.ok ? p.kernel.errno : p.model.errno ?? p.model.reason})`,
        evidence: [`${questionText(p.question)} -> ${p.kernel ? kernelText(p.kernel) : `model: ${modelText(p.model)}`}`],
        remediation: [],
        ingress: ing.ingress,
        client: p.client,
        rule: p.rule,
        route: p.route,
      }, { lowered: p.clientKind === 'default-destination' }));
    }

    // Strict reverse-path filtering drops requests whose reverse route leaves elsewhere: the SYN never reaches a socket.
    if (family === 4 && local && ing.ingress && (report.rpFilter ?? 0) > 0) {
      for (const p of report.paths.filter((x) => x.verdict === 'asymmetric' || x.verdict === 'unroutable')) {
        if (p.clientKind === 'gateway') continue;
        const q: RouteQuestion = { dst: vip.ip, src: p.client, iif: ing.ingress };
        const kernel = await input.oracle(q);
        const m = model.lookup(q);
        const dropped = kernel ? !kernel.ok && kernel.errno === 'EINVAL' : m.kind === 'error' && m.reason === 'rp-filter';
        if (!dropped) continue;
        const rp = snap.sysctls.rpFilter;
        const cmds = [`sysctl -w net.ipv4.conf.${ing.ingress}.rp_filter=2`];
        if ((rp['all'] ?? 0) === 1) cmds.unshift('sysctl -w net.ipv4.conf.all.rp_filter=2');
        findings.push(finding('rp-filter-drop', {
          vip: vip.ip,
          summary: `${label}: rp_filter=${report.rpFilter} on ${ing.ingress} drops requests from ${p.cidr ?? p.client}: their reverse path leaves on ${p.egress.join(', ') || 'no interface'}`,
          evidence: [
            `${questionText(q)} -> ${kernel ? kernelText(kernel) : `model: ${modelText(summariseModel(m))}`}`,
            `net.ipv4.conf.all.rp_filter=${rp['all'] ?? '?'}, net.ipv4.conf.${ing.ingress}.rp_filter=${rp[ing.ingress] ?? '?'} (the kernel uses the larger)`,
          ],
          remediation: [
            { title: 'fix the reply path (see asymmetric-reply-path): strict rp_filter then passes', commands: [] },
            { title: 'or relax reverse-path filtering to loose mode', commands: cmds, note: 'persist in /etc/sysctl.d/' },
          ],
          ingress: ing.ingress,
          egress: p.egress.join(',') || null,
          client: p.client,
        }));
      }
    }
  }

  findings.push(...hostFindings(input, reports, managementCidrs));
  return { vips: reports, findings: sortFindings(findings) };
}

function hostFindings(input: CheckInput, reports: VipReport[], mgmt: ReturnType<typeof parsePrefix>[]): Finding[] {
  const snap = input.snapshot;
  const out: Finding[] = [];
  const ingresses = new Set(reports.map((r) => r.ingress).filter((x): x is string => x !== null));
  for (const family of [4, 6] as const) {
    const defaults = snap.routes.filter((r) => r.family === family && r.table === 'main' && r.dst === 'default' && r.type === 'unicast');
    const devs = new Set(defaults.flatMap((r) => r.nexthops.map((n) => n.dev ?? '')));
    if (defaults.length > 1 && devs.size > 1) {
      out.push(finding('competing-default-routes', {
        vip: null,
        summary: `${defaults.length} IPv${family} default routes on ${[...devs].join(', ')}: the lowest metric wins, and which one that is changes when a link or DHCP lease changes`,
        evidence: defaults.map(describeRoute),
        remediation: [{ title: 'keep one default route, or give each a distinct metric on purpose and use policy routing for VIP replies', commands: [] }],
      }));
    }
    for (const r of defaults.filter((d) => d.nexthops.length > 1)) {
      const nd = new Set(r.nexthops.map((n) => n.dev));
      if (nd.size > 1) {
        out.push(finding('multipath-default-spans-interfaces', {
          vip: null,
          summary: `the IPv${family} default route is multipath over ${[...nd].join(', ')}: replies are hashed across interfaces per flow`,
          evidence: [describeRoute(r)],
          remediation: [{ title: 'route VIP replies with policy routing to the VIP interface', commands: [] }],
        }));
      }
    }
    const best = defaults.slice().sort((a, b) => a.metric - b.metric)[0];
    if (!best) continue;
    const dev = best.nexthops[0]?.dev ?? null;
    // Only worth saying when VIP replies actually leave through it.
    const misrouted = reports.some((r) => r.paths.some((p) => p.verdict === 'asymmetric' && p.egress.includes(dev ?? '')));
    if (!dev || !misrouted) continue;
    const devSubnets = connectedSubnets(snap).filter((s) => s.ifname === dev && s.prefix.family === family);
    const hit = devSubnets.find((s) => mgmt.some((m) => m && m.family === family && m.len <= s.prefix.len && prefixContains(m, { family, value: s.prefix.value })));
    if (hit) {
      out.push(finding('default-route-on-management-network', {
        vip: null,
        summary: `the IPv${family} default route uses ${dev} (${formatPrefix(hit.prefix)}, a NAT/management network) while VIPs arrive on ${[...ingresses].filter((i) => i !== dev).join(', ')}`,
        evidence: [describeRoute(best as Route)],
        remediation: [{ title: 'see asymmetric-reply-path for the fixes', commands: [] }],
        egress: dev,
      }));
    }
  }
  return out;
}

export function questionText(q: RouteQuestion): string {
  const fam = q.dst.includes(':') ? 'ip -6' : 'ip';
  return [`${fam} route get ${q.dst}`, q.src ? `from ${q.src}` : '', q.iif ? `iif ${q.iif}` : '', q.oif ? `oif ${q.oif}` : '', q.mark ? `mark ${q.mark}` : '']
    .filter(Boolean)
    .join(' ');
}

export function kernelText(k: KernelVerdict): string {
  if (!k.ok) return `error ${k.errno} (${k.message.replace(/^RTNETLINK answers: /, '')})`;
  return [k.type !== 'unicast' ? k.type : '', k.gateway ? `via ${k.gateway}` : '', `dev ${k.dev}`].filter(Boolean).join(' ');
}

export function modelText(m: ModelSummary): string {
  if (m.kind === 'unknown') return `unknown (${m.reason})`;
  if (m.kind === 'error') return `error ${m.errno} (${m.reason})`;
  return m.devs.map((d, i) => `${m.gateways[i] ? `via ${m.gateways[i]} ` : ''}dev ${d}`).join(' | ');
}

function sourceLabel(p: PathReport): string {
  switch (p.kind) {
    case 'local':
      return 'sent by a local socket';
    case 'host-backend':
      return `sent locally by backend ${p.backend}`;
    case 'forwarded':
      return `forwarded from backend ${p.backend} received on ${p.question.iif}${p.mark ? ` with mark 0x${p.mark.toString(16)}` : ''}`;
    case 'destination-only':
      return 'no backend known: destination alone';
  }
}

function sourcesText(paths: PathReport[]): string {
  const fwd = [...new Set(paths.filter((x) => x.kind !== 'local' && x.kind !== 'destination-only').map((x) => x.backend))];
  return fwd.length > 0 ? `; replies of backend${fwd.length > 1 ? 's' : ''} ${fwd.join(', ')}` : '';
}

function clientLabel(p: PathReport): string {
  switch (p.clientKind) {
    case 'default-destination':
      return 'an address only the default route covers';
    case 'client-cidr':
      return `client CIDR ${p.cidr}`;
    case 'gateway':
      return 'a gateway';
    case 'observed':
      return 'a client seen in traffic';
  }
}
