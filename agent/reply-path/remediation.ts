// Fix commands for what the verdicts found. Every command is built from structured state (the deciding rule and route
// of the model's answer, the snapshot's tables, marks and neighbours), never from text the report rendered.

import type { HostSnapshot, Route, Rule } from '../model/host-state.js';
import type { Family } from '../net/ip.js';
import { cniDevice } from '../net/cni-devices.js';
import type { Remediation } from '../findings/registry.js';
import { describeRoute } from '../analysis/route-model.js';

/** What the fixes for one asymmetric path need to know about the VIP. */
export interface AsymmetryContext {
  snapshot: HostSnapshot;
  family: Family;
  vip: string;
  ingress: string;
  /** the connected subnet of the VIP on the ingress, when known */
  subnet: string | null;
  /** the VIP is an address of this host */
  local: boolean;
  /** every path of this VIP is answered by a local socket */
  onlyLocalSockets: boolean;
  backends: string[];
  /** the gateway the operator configured for the ingress */
  configuredGateway?: string;
}

/** The path the fixes are for: where its replies leave, and the rule and route that decided it. */
export interface AsymmetricPath {
  client: string;
  egress: string[];
  rule: Rule | null;
  route: Route | null;
}

/** The gateway on an interface, from configuration, routes or the neighbour table, with how sure we are. */
function gatewayOn(snap: HostSnapshot, dev: string, family: Family, configured?: string): { ip: string | null; how: string } {
  if (configured) return { ip: configured, how: 'configured' };
  const fromRoutes = new Set<string>();
  for (const r of snap.routes) {
    if (r.family !== family) continue;
    for (const n of r.nexthops) if (n.dev === dev && n.gateway) fromRoutes.add(n.gateway);
  }
  if (fromRoutes.size > 0) return { ip: [...fromRoutes][0]!, how: `used by an existing route on ${dev}` };
  const neigh = snap.neighbours.filter(
    (n) => n.family === family && n.dev === dev && n.lladdr && !n.state.includes('FAILED') && !n.state.includes('INCOMPLETE'),
  );
  const routers = neigh.filter((n) => n.state.includes('router'));
  const pick = routers.length === 1 ? routers[0]! : neigh.length === 1 ? neigh[0]! : null;
  if (pick)
    return { ip: pick.dst, how: `the only ${routers.length === 1 ? 'router ' : ''}neighbour seen on ${dev}: verify it is the LAN router` };
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

function freeMark(snap: HostSnapshot): number {
  const used = new Set<number>();
  for (const r of snap.rules) if (r.fwmark !== null) used.add(r.fwmark);
  for (const c of snap.netfilter?.chains ?? []) {
    for (const r of c.rules) {
      const a = r.action;
      if (a.kind === 'mark-set' || a.kind === 'ctmark-set') used.add(a.value);
      for (const m of r.matches) if (m.kind === 'mark' || m.kind === 'ctmark') used.add(m.value);
    }
  }
  for (let m = 0x64; m < 0x100; m++) if (!used.has(m)) return m;
  return 0x1064;
}

/** Policy routing, connmark routing, and moving the deciding route: the fixes for replies that leave elsewhere. */
export function fixesForAsymmetry(v: AsymmetryContext, p: AsymmetricPath): Remediation[] {
  const snap = v.snapshot;
  const { family, ingress } = v;
  const ipf = family === 6 ? 'ip -6' : 'ip';
  const gw = gatewayOn(snap, ingress, family, v.configuredGateway);
  const gwText = gw.ip ?? `<gateway-on-${ingress}>`;
  const out: Remediation[] = [];
  const decidingPriority = p.rule?.priority ?? 32766;
  const table = freeTable(snap);
  const prio = freeRulePriority(snap, family, decidingPriority);
  // A source rule only catches replies a local socket sends from the VIP; DNAT'd replies carry the backend's address.
  const onlyLocalSockets = v.local && v.onlyLocalSockets;
  const policy = (): Remediation => {
    const cmds = [`${ipf} rule add from ${v.vip} lookup ${table} priority ${prio}`];
    if (v.subnet) cmds.push(`${ipf} route add ${v.subnet} dev ${ingress} table ${table}`);
    cmds.push(`${ipf} route add default via ${gwText} dev ${ingress} table ${table}`);
    return {
      title: `policy routing: replies from ${v.vip} use ${ingress}, the host's default route stays as it is`,
      commands: cmds,
      note: `gateway: ${gw.how}. It catches only replies that local sockets send from ${v.vip}. Make it persistent in the network configuration (netplan routing-policy, ifupdown post-up, NetworkManager ipv4.routing-rules).`,
    };
  };
  const connmark = connmarkFixes({
    family,
    ingress,
    table,
    priority: prio,
    mark: freeMark(snap),
    subnet: v.subnet,
    gateway: gwText,
    gatewayHow: gw.how,
  });
  if (onlyLocalSockets) out.push(policy(), ...connmark);
  else {
    const why = v.local
      ? `${v.vip} is DNAT'd to ${v.backends.join(', ')}: their replies are routed with the backend's address as source, so a "from ${v.vip}" rule does not catch them.`
      : `${v.vip} is not an address of this host: replies are de-NATed after routing, so a source rule cannot catch them.`;
    out.push({ ...connmark[0]!, note: `${why} ${connmark[0]!.note}` }, connmark[1]!);
  }
  const route = p.route;
  const dev = cniDevice(ingress);
  if (route?.dst === 'default' && route.table === 'main') {
    if (dev) {
      out.push({
        title: `do not move the default route to ${ingress}`,
        commands: [],
        note: `${ingress} is a ${dev} device, not a LAN: fix the VIP's ingress (--vip ${v.vip}@IFACE) instead`,
      });
    } else if (!gw.ip) {
      out.push({
        title: `moving the default route to ${ingress} needs its router`,
        commands: [],
        note: `${gw.how}; find it with "ip neigh show dev ${ingress}" or the DHCP lease, then pass --gateway ${ingress}=IP to get the commands`,
      });
    } else {
      out.push({
        title: `move the default route to ${ingress}`,
        commands: [`${ipf} route del ${describeRoute(route, { metric: false })}`, `${ipf} route add default via ${gw.ip} dev ${ingress}`],
        note: `all traffic of the host then leaves via ${ingress}; ${p.egress.join(', ')} keeps only its connected subnets (management access from elsewhere may need its own route). Gateway: ${gw.how}.`,
      });
    }
  } else if (route && route.dst !== 'default' && !dev && gw.ip) {
    const tableSuffix = route.table !== 'main' ? ` table ${route.table}` : '';
    out.push({
      title: `send ${route.dst} via ${ingress}`,
      commands: [`${ipf} route replace ${route.dst} via ${gw.ip} dev ${ingress}${tableSuffix}`],
      note: `the route "${describeRoute(route)}" sends replies to ${p.client} away from ${ingress}. Gateway: ${gw.how}.`,
    });
  }
  return out;
}

/** Connmark policy routing, in iptables and in nft syntax: replies of connections that arrived on the ingress carry its mark. */
function connmarkFixes(p: {
  family: Family;
  ingress: string;
  table: string;
  priority: number;
  mark: number;
  subnet: string | null;
  gateway: string;
  gatewayHow: string;
}): Remediation[] {
  const hex = `0x${p.mark.toString(16)}`;
  const ipt = p.family === 6 ? 'ip6tables' : 'iptables';
  const ipf = p.family === 6 ? 'ip -6' : 'ip';
  const nfam = p.family === 6 ? 'ip6' : 'ip';
  const routing = [`${ipf} rule add fwmark ${hex} lookup ${p.table} priority ${p.priority}`];
  if (p.subnet) routing.push(`${ipf} route add ${p.subnet} dev ${p.ingress} table ${p.table}`);
  routing.push(`${ipf} route add default via ${p.gateway} dev ${p.ingress} table ${p.table}`);
  const note = `connections arriving on ${p.ingress} get connection mark ${hex}; their replies (forwarded from pods, or sent by local sockets) get it back as packet mark and are routed by table ${p.table}. Requests themselves are never marked, so traffic to pods is routed as before. The rules set the whole mark: if the CNI uses packet marks too (Calico, Cilium), use a free bit with a mask. Gateway: ${p.gatewayHow}. Persist with iptables-persistent / nftables.conf and the network configuration.`;
  return [
    {
      title: `connmark policy routing (iptables): replies to connections that arrived on ${p.ingress} leave on ${p.ingress}`,
      commands: [
        `${ipt} -t mangle -I PREROUTING 1 -i ${p.ingress} -m conntrack --ctstate NEW -j CONNMARK --set-mark ${hex}`,
        `${ipt} -t mangle -I PREROUTING 2 ! -i ${p.ingress} -j CONNMARK --restore-mark`,
        `${ipt} -t mangle -I OUTPUT 1 -j CONNMARK --restore-mark`,
        ...routing,
      ],
      note,
    },
    {
      title: `the same in nft syntax (a table of its own)`,
      commands: [
        `nft add table ${nfam} asymroute`,
        `nft 'add chain ${nfam} asymroute prerouting { type filter hook prerouting priority mangle; }'`,
        `nft 'add rule ${nfam} asymroute prerouting iifname "${p.ingress}" ct state new ct mark set ${hex}'`,
        `nft 'add rule ${nfam} asymroute prerouting iifname != "${p.ingress}" meta mark set ct mark'`,
        `nft 'add chain ${nfam} asymroute output { type route hook output priority mangle; }'`,
        `nft 'add rule ${nfam} asymroute output meta mark set ct mark'`,
        ...routing,
      ],
      note: 'use one of the two, not both',
    },
  ];
}

/** Strict reverse-path filtering drops the requests: fix the reply path, or loosen rp_filter on the ingress. */
export function rpFilterFixes(snap: HostSnapshot, ingress: string): Remediation[] {
  const cmds = [`sysctl -w net.ipv4.conf.${ingress}.rp_filter=2`];
  if ((snap.sysctls.rpFilter['all'] ?? 0) === 1) cmds.unshift('sysctl -w net.ipv4.conf.all.rp_filter=2');
  return [
    { title: 'fix the reply path (see asymmetric-reply-path): strict rp_filter then passes', commands: [] },
    { title: 'or relax reverse-path filtering to loose mode', commands: cmds, note: 'persist in /etc/sysctl.d/' },
  ];
}
