// Which VIPs to check, and on which interface their requests arrive.

import { isIfname } from '../net/ifname.js';
import {
  bitsOf,
  formatIp,
  formatPrefix,
  isLinkLocal,
  isLoopback,
  makePrefix,
  parseIp,
  parsePrefix,
  prefixContains,
  type Prefix,
} from '../net/ip.js';
import { cniDevice } from '../net/cni-devices.js';
import type { HostSnapshot } from '../model/host-state.js';

export type VipSource = 'flag' | 'config' | 'auto' | 'kubernetes' | 'observed';

export interface VipSpec {
  ip: string;
  /** configured ingress interface; null means "derive from connected subnets" */
  ingress: string | null;
  source: VipSource;
  /** e.g. "default/web" for a Kubernetes Service */
  service?: string;
  /** how a non-null ingress was chosen, when not by the operator (e.g. MetalLB's ServiceL2Status) */
  ingressReason?: string;
  /** MetalLB L2: which node announces the VIP (answers ARP/NDP for it), and on which interfaces */
  announcement?: Announcement;
  /** MetalLB BGP: which nodes advertise the VIP, and to which BGPPeers this node does */
  bgp?: BgpAnnouncement;
  /** kube-vip: which node holds the VIP, from its Lease or the Service's kube-vip.io/vipHost annotation */
  kubeVip?: KubeVipHolder;
}

export interface KubeVipHolder {
  here: boolean;
  nodes: string[];
  via: 'service-annotation' | 'lease';
  /** namespace/name of the Lease that named the holder (null: the annotation did) */
  lease: string | null;
}

/** Seconds past a Lease's expiry (renewTime + leaseDurationSeconds) before it is taken as abandoned: clocks differ. */
export const LEASE_EXPIRY_GRACE_S = 60;

/** The node a Lease names, unless released or abandoned (not renewed for its duration plus the grace). */
export function leaseHolder(
  l: { holder: string | null; renewedAt: number | null; leaseDurationSeconds: number | null },
  nowMs: number,
): string | null {
  if (!l.holder) return null;
  if (
    l.renewedAt !== null &&
    l.leaseDurationSeconds !== null &&
    nowMs > l.renewedAt + (l.leaseDurationSeconds + LEASE_EXPIRY_GRACE_S) * 1000
  )
    return null;
  return l.holder;
}

/**
 * kube-vip's holder of each Service's VIPs. kube-vip elects the holder with a Lease, and only the winner then writes
 * kube-vip.io/vipHost on the Service (it never clears it), so a held Lease beats the annotation: the Service's own
 * Lease (svc_election; kubevip-<name> or kube-vip.io/leaseName), else the global services Lease for a Service kube-vip
 * serves, else the annotation.
 */
export function applyKubeVip(
  vips: VipSpec[],
  marks: Map<string, { vipHost: string | null; lease: string; marked: boolean }>,
  leases: Array<{ lease: string; holder: string | null; renewedAt: number | null; leaseDurationSeconds: number | null }>,
  globalLease: string,
  node: string,
  nowMs: number,
): VipSpec[] {
  const held = new Map<string, string>();
  for (const l of leases) {
    const h = leaseHolder(l, nowMs);
    if (h) held.set(l.lease, h);
  }
  return vips.map((v) => {
    const m = v.service ? marks.get(v.service) : undefined;
    if (!m) return v;
    const pick = (lease: string | null, holder: string): VipSpec => ({
      ...v,
      kubeVip: { here: holder === node, nodes: [holder], via: lease ? 'lease' : 'service-annotation', lease },
    });
    const own = held.get(m.lease);
    if (own) return pick(m.lease, own);
    const global = m.marked ? held.get(globalLease) : undefined;
    if (global) return pick(globalLease, global);
    return m.vipHost ? pick(null, m.vipHost) : v;
  });
}

export interface BgpAnnouncement {
  nodes: string[];
  here: boolean;
  /** the BGPPeers this node is configured to advertise the VIP to (empty when not here) */
  peers: string[];
}

/** MetalLB's ServiceBGPStatus objects, joined to Kubernetes VIPs by Service. Informational: no ingress is pinned. */
export function applyBgpAdvertisements(
  vips: VipSpec[],
  ads: Array<{ service: string; node: string; peers: string[] }>,
  node: string,
): VipSpec[] {
  return vips.map((v) => {
    const mine = ads.filter((a) => a.service === v.service);
    if (!v.service || mine.length === 0) return v;
    const here = mine.find((a) => a.node === node);
    return { ...v, bgp: { nodes: [...new Set(mine.map((a) => a.node))].sort(), here: here !== undefined, peers: here?.peers ?? [] } };
  });
}

export interface Announcement {
  nodes: string[];
  here: boolean;
  interfaces: string[];
}

/** The L2 announcements MetalLB reports, joined to Kubernetes VIPs by Service: on this node, a single announcing interface becomes the VIP's ingress. */
export function applyAnnouncements(
  vips: VipSpec[],
  anns: Array<{ service: string; node: string; interfaces: string[] }>,
  node: string,
): VipSpec[] {
  return vips.map((v) => {
    const mine = anns.filter((a) => a.service === v.service);
    if (!v.service || mine.length === 0) return v;
    const here = mine.find((a) => a.node === node);
    const announcement: Announcement = {
      nodes: [...new Set(mine.map((a) => a.node))].sort(),
      here: here !== undefined,
      interfaces: here?.interfaces ?? [],
    };
    const pin = v.ingress === null && here?.interfaces.length === 1 ? here.interfaces[0]! : null;
    return pin
      ? { ...v, announcement, ingress: pin, ingressReason: `MetalLB announces it from this node on ${pin}` }
      : { ...v, announcement };
  });
}

export class VipSpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VipSpecError';
  }
}

/** "192.168.1.240" or "192.168.1.240@eth1" (the second form pins the ingress interface). */
export function parseVipSpec(text: string, source: VipSource): VipSpec {
  const at = text.lastIndexOf('@');
  const ipText = at === -1 ? text : text.slice(0, at);
  const ingress = at === -1 ? null : text.slice(at + 1);
  const ip = parseIp(ipText);
  if (!ip) throw new VipSpecError(`invalid VIP ${JSON.stringify(text)}: expected an IPv4/IPv6 address, optionally followed by @INTERFACE`);
  if (isLoopback(ip) || isLinkLocal(ip) || ip.value === 0n)
    throw new VipSpecError(
      `invalid VIP ${JSON.stringify(text)}: loopback, link-local and unspecified addresses cannot be load-balancer VIPs`,
    );
  if (ingress !== null && !isIfname(ingress))
    throw new VipSpecError(`invalid VIP ${JSON.stringify(text)}: ${JSON.stringify(ingress)} is not an interface name`);
  return { ip: formatIp(ip), ingress, source };
}

const VIP_HOLDER_KINDS = new Set(['dummy']);
const VIP_HOLDER_NAMES = /^(kube-ipvs0|kube-lb0)$/;

export interface Detection {
  vips: VipSpec[];
  /** addresses that looked like VIPs but belong to the CNI or the pod network, with why */
  skipped: string[];
}

/** Pod networks as this host sees them: connected subnets and routes on CNI devices, plus any given (Node podCIDRs). */
function podNetworks(snap: HostSnapshot, podCidrs: string[] = []): Prefix[] {
  const out: Prefix[] = [];
  for (const c of podCidrs) {
    const p = parsePrefix(c);
    if (p) out.push(p);
  }
  for (const a of snap.addrs) {
    const ip = parseIp(a.local);
    if (ip && cniDevice(a.ifname) && a.prefixlen < bitsOf(ip.family)) out.push(makePrefix(ip, a.prefixlen));
  }
  for (const r of snap.routes) {
    if (r.dst === 'default' || r.table === 'local' || !r.nexthops.some((n) => n.dev && cniDevice(n.dev))) continue;
    const p = parsePrefix(r.dst, r.family);
    if (p && p.len > 0) out.push(p);
  }
  return out;
}

/**
 * VIP-like local addresses: host-length (/32, /128) global addresses, and any address on a dummy or kube-ipvs0
 * device; never an address on a CNI or tunnel device, nor one inside the pod networks (flannel.1's 10.42.0.0/32).
 */
export function detectVips(snap: HostSnapshot, podCidrs: string[] = []): Detection {
  const holders = new Set(
    snap.links.filter((l) => (l.kind && VIP_HOLDER_KINDS.has(l.kind)) || VIP_HOLDER_NAMES.test(l.name)).map((l) => l.name),
  );
  const pods = podNetworks(snap, podCidrs);
  const vips: VipSpec[] = [];
  const skipped: string[] = [];
  const seen = new Set<string>();
  for (const a of snap.addrs) {
    const ip = parseIp(a.local);
    if (!ip || isLoopback(ip) || isLinkLocal(ip) || a.scope !== 'global') continue;
    const hostLength = a.prefixlen === bitsOf(ip.family);
    if (!hostLength && !holders.has(a.ifname)) continue;
    if (seen.has(a.local)) continue;
    seen.add(a.local);
    const cni = cniDevice(a.ifname);
    if (cni) {
      skipped.push(`${a.local} on ${a.ifname} (${cni})`);
      continue;
    }
    const pod = pods.find((p) => p.family === ip.family && prefixContains(p, ip));
    if (pod) {
      skipped.push(`${a.local} on ${a.ifname} (inside the pod network ${formatPrefix(pod)})`);
      continue;
    }
    vips.push({ ip: a.local, ingress: null, source: 'auto' });
  }
  return { vips, skipped };
}

export interface ConnectedSubnet {
  ifname: string;
  prefix: Prefix;
}

export function connectedSubnets(snap: HostSnapshot): ConnectedSubnet[] {
  const out: ConnectedSubnet[] = [];
  for (const a of snap.addrs) {
    const ip = parseIp(a.local);
    if (!ip || a.ifname === 'lo' || isLinkLocal(ip) || a.prefixlen >= bitsOf(ip.family)) continue;
    out.push({ ifname: a.ifname, prefix: makePrefix(ip, a.prefixlen) });
  }
  return out;
}

export interface IngressChoice {
  ingress: string | null;
  /** how it was chosen, for the report */
  reason: string;
  subnet: string | null;
  configured: boolean;
}

/** Requests for a VIP arrive where its subnet is connected, whatever device holds the address itself. */
export function chooseIngress(vip: VipSpec, snap: HostSnapshot): IngressChoice {
  const ip = parseIp(vip.ip)!;
  const subnets = connectedSubnets(snap)
    .filter((s) => prefixContains(s.prefix, ip))
    .sort((a, b) => b.prefix.len - a.prefix.len);
  const best = subnets[0] ?? null;
  if (vip.ingress) {
    return {
      ingress: vip.ingress,
      reason: vip.ingressReason ?? 'configured',
      subnet: best ? formatPrefix(best.prefix) : null,
      configured: true,
    };
  }
  if (!best) return { ingress: null, reason: 'the VIP lies in no connected subnet', subnet: null, configured: false };
  const others = subnets.filter((s) => s.prefix.len === best.prefix.len && s.ifname !== best.ifname);
  const reason =
    others.length > 0
      ? `connected subnet ${formatPrefix(best.prefix)} (also on ${others.map((o) => o.ifname).join(', ')})`
      : `connected subnet ${formatPrefix(best.prefix)}`;
  return { ingress: best.ifname, reason, subnet: formatPrefix(best.prefix), configured: false };
}

/** The device that holds the VIP address, if this host has it. */
export function vipHolder(vip: string, snap: HostSnapshot): string | null {
  const ip = parseIp(vip);
  if (!ip) return null;
  const a = snap.addrs.find((x) => {
    const y = parseIp(x.local);
    return y !== null && y.family === ip.family && y.value === ip.value;
  });
  return a ? a.ifname : null;
}
