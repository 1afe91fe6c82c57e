// VIPs from Kubernetes Service objects (core/v1): status.loadBalancer.ingress[].ip, spec.loadBalancerIP and kube-vip's
// kube-vip.io/loadbalancerIPs annotation for type LoadBalancer, spec.externalIPs for any type. Announcements from
// MetalLB's ServiceL2Status objects, holders from kube-vip's annotations and Leases. Malformed objects are skipped.

import { isIfname } from '../net/ifname.js';
import { canonicalIp } from '../net/ip.js';
import { DNS_SUBDOMAIN } from '../net/kube-name.js';

export interface ServiceVip {
  ip: string;
  /** namespace/name */
  service: string;
  from: 'status.loadBalancer.ingress' | 'spec.loadBalancerIP' | 'kube-vip.io/loadbalancerIPs' | 'spec.externalIPs';
  /** what kube-vip wrote on the Service, and the Lease it would elect the Service's holder with */
  kubeVip: KubeVipMarks;
}

/**
 * kube-vip's marks on a Service. As kube-vip writes and reads them (github.com/kube-vip/kube-vip):
 *   pkg/kubevip/annotations.go:  VipHost = "kube-vip.io/vipHost"; LoadbalancerIPAnnotation = "kube-vip.io/loadbalancerIPs";
 *                                ServiceLease = "kube-vip.io/leaseName"
 *   pkg/services (updateStatus): if p.config.EnableARP || p.config.EnableBGP {
 *                                  currentServiceCopy.Annotations[kubevip.VipHost] = p.config.NodeName }
 *   pkg/lease/lease.go ServiceName: name, exists := service.Annotations[kubevip.ServiceLease]
 *                                if !exists || name == "" { name = fmt.Sprintf("kubevip-%s", service.Name) }
 *                                namespace := service.Namespace; "ns/name" in the annotation names another namespace
 *   pkg/kubevip/constants.go:    LBClassName = "kube-vip.io/kube-vip-class"
 */
export interface KubeVipMarks {
  /** kube-vip.io/vipHost: the node that last took the Service's VIPs (never cleared when it loses them) */
  vipHost: string | null;
  /** namespace/name of the Lease kube-vip elects the Service's holder with under svc_election */
  lease: string;
  /** the lease name came from kube-vip.io/leaseName (a lease shared by several Services, or named by the user) */
  leaseNamed: boolean;
  /** the Service carries a kube-vip.io/ annotation or kube-vip's loadBalancerClass: kube-vip serves it */
  marked: boolean;
}

/** Addresses kube-vip.io/loadbalancerIPs may list before the rest are ignored (an API object controls the count). */
export const MAX_ANNOTATION_IPS = 16;

function kubeVipMarks(svc: Obj, ns: string, name: string): KubeVipMarks {
  const ann = obj(obj(svc['metadata'])?.['annotations']) ?? {};
  const host = ann['kube-vip.io/vipHost'];
  const named =
    typeof ann['kube-vip.io/leaseName'] === 'string' && ann['kube-vip.io/leaseName'] !== '' ? ann['kube-vip.io/leaseName'] : null;
  const parts = named?.split('/') ?? [];
  const [leaseNs, leaseName] = parts.length > 1 ? [parts[0]!, parts[1]!] : [ns, named ?? `kubevip-${name}`];
  return {
    vipHost: typeof host === 'string' && DNS_SUBDOMAIN.test(host) ? host : null,
    lease: `${leaseNs}/${leaseName}`,
    leaseNamed: named !== null,
    marked:
      Object.keys(ann).some((k) => k.startsWith('kube-vip.io/')) ||
      obj(svc['spec'])?.['loadBalancerClass'] === 'kube-vip.io/kube-vip-class',
  };
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | null => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : null);

/** namespace/name of any namespaced object */
export function objectKey(svc: unknown): string | null {
  const md = obj(obj(svc)?.['metadata']);
  const ns = md?.['namespace'];
  const name = md?.['name'];
  return typeof ns === 'string' && typeof name === 'string' ? `${ns}/${name}` : null;
}

export function vipsOfService(svc: unknown): ServiceVip[] {
  const key = objectKey(svc);
  if (!key) return [];
  const spec = obj(obj(svc)?.['spec']) ?? {};
  const [ns, name] = key.split('/') as [string, string];
  const kubeVip = kubeVipMarks(svc as Obj, ns, name);
  const out: ServiceVip[] = [];
  const add = (ip: unknown, from: ServiceVip['from']) => {
    const c = typeof ip === 'string' ? canonicalIp(ip.trim()) : null;
    if (c && !out.some((x) => x.ip === c)) out.push({ ip: c, service: key, from, kubeVip });
  };
  if (spec['type'] === 'LoadBalancer') {
    const ingress = obj(obj(obj(svc)?.['status'])?.['loadBalancer'])?.['ingress'];
    if (Array.isArray(ingress)) for (const i of ingress) add(obj(i)?.['ip'], 'status.loadBalancer.ingress');
    add(spec['loadBalancerIP'], 'spec.loadBalancerIP');
    // kube-vip's FetchServiceAddresses: strings.Split(v, ","), each trimmed; names that are not IPs are DNS names.
    const lbIps = obj(obj(obj(svc)?.['metadata'])?.['annotations'])?.['kube-vip.io/loadbalancerIPs'];
    if (typeof lbIps === 'string') for (const ip of lbIps.split(',').slice(0, MAX_ANNOTATION_IPS)) add(ip, 'kube-vip.io/loadbalancerIPs');
  }
  const ext = spec['externalIPs'];
  if (Array.isArray(ext)) for (const ip of ext) add(ip, 'spec.externalIPs');
  return out;
}

export interface L2Announcement {
  /** namespace/name of the Service announced */
  service: string;
  /** the node MetalLB elected to answer ARP/NDP for the Service's VIPs */
  node: string;
  /** interfaces it announces on (empty: MetalLB did not say) */
  interfaces: string[];
}

/**
 * ServiceL2Status (metallb.io/v1beta1), as written by MetalLB's speaker:
 *   status: { node, serviceName, serviceNamespace, interfaces: [{ name }] }
 * Interface names are kept only when they are valid Linux names: they end up in reports and fix commands.
 */
export function l2StatusOf(o: unknown): L2Announcement | null {
  const st = obj(obj(o)?.['status']);
  const node = st?.['node'];
  const name = st?.['serviceName'];
  const ns = st?.['serviceNamespace'];
  if (typeof node !== 'string' || !node || typeof name !== 'string' || !name || typeof ns !== 'string' || !ns) return null;
  const ifs = st?.['interfaces'];
  const interfaces = Array.isArray(ifs) ? ifs.map((i) => obj(i)?.['name']).filter((n): n is string => isIfname(n)) : [];
  return { service: `${ns}/${name}`, node, interfaces: [...new Set(interfaces)] };
}

export interface BgpAdvertisement {
  /** namespace/name of the Service advertised */
  service: string;
  /** a node whose speaker advertises the Service's VIPs */
  node: string;
  /** the BGPPeers (by name) it is configured to advertise them to; whether a session is up is not said here */
  peers: string[];
}

/** Peers a ServiceBGPStatus may list before it is taken as malformed (an API object controls the count). */
export const MAX_STATUS_PEERS = 64;

/**
 * ServiceBGPStatus (metallb.io/v1beta1, MetalLB >= 0.14), one per Service and advertising node:
 *   status: { node, serviceName, serviceNamespace, peers: [BGPPeer name] }
 */
export function bgpStatusOf(o: unknown): BgpAdvertisement | null {
  const st = obj(obj(o)?.['status']);
  const node = st?.['node'];
  const name = st?.['serviceName'];
  const ns = st?.['serviceNamespace'];
  if (typeof node !== 'string' || !node || typeof name !== 'string' || !name || typeof ns !== 'string' || !ns) return null;
  const ps = st?.['peers'];
  if (ps !== undefined && (!Array.isArray(ps) || ps.length > MAX_STATUS_PEERS)) return null;
  const peers = (ps ?? []).filter((p): p is string => typeof p === 'string' && DNS_SUBDOMAIN.test(p));
  return { service: `${ns}/${name}`, node, peers: [...new Set(peers)].sort() };
}

export interface KubeVipLease {
  /** namespace/name */
  lease: string;
  /** spec.holderIdentity: kube-vip's NodeName (null: released, or not a node name) */
  holder: string | null;
  /** spec.renewTime in ms since the epoch */
  renewedAt: number | null;
  leaseDurationSeconds: number | null;
}

/**
 * A coordination.k8s.io/v1 Lease, as client-go's leader election writes it for kube-vip:
 *   spec: { holderIdentity, leaseDurationSeconds, acquireTime, renewTime, leaseTransitions }
 * kube-vip's identity is its node name (pkg/manager/manager.go: "Instance identity should be the same as k8s node
 * name"; the ARP and BGP engines start with sm.config.NodeName). On a clean stop it releases the lease (client-go's
 * ReleaseOnCancel), leaving holderIdentity empty.
 */
export function leaseOf(o: unknown): KubeVipLease | null {
  const lease = objectKey(o);
  const spec = obj(obj(o)?.['spec']);
  if (!lease || !spec) return null;
  const h = spec['holderIdentity'];
  const renewed = typeof spec['renewTime'] === 'string' ? Date.parse(spec['renewTime']) : NaN;
  const d = spec['leaseDurationSeconds'];
  return {
    lease,
    holder: typeof h === 'string' && DNS_SUBDOMAIN.test(h) ? h : null,
    renewedAt: Number.isFinite(renewed) ? renewed : null,
    leaseDurationSeconds: typeof d === 'number' && Number.isInteger(d) && d > 0 ? d : null,
  };
}

/** A Kubernetes label selector (metav1.LabelSelector). */
export interface LabelSelector {
  matchLabels: Record<string, string>;
  matchExpressions: Array<{ key: string; operator: string; values: string[] }>;
}

export interface BgpPeerSpec {
  /** namespace/name of the BGPPeer */
  name: string;
  peer: string;
  /** empty: every node */
  nodeSelectors: LabelSelector[];
}

function labelSelector(v: unknown): LabelSelector | null {
  const o = obj(v);
  if (!o) return null;
  const ml = obj(o['matchLabels']) ?? {};
  const matchLabels: Record<string, string> = {};
  for (const [k, x] of Object.entries(ml)) if (typeof x === 'string') matchLabels[k] = x;
  const me = Array.isArray(o['matchExpressions']) ? o['matchExpressions'] : [];
  const matchExpressions = me
    .map((e) => obj(e))
    .filter((e): e is Obj => e !== null && typeof e['key'] === 'string' && typeof e['operator'] === 'string')
    .map((e) => ({
      key: e['key'] as string,
      operator: e['operator'] as string,
      values: Array.isArray(e['values']) ? e['values'].filter((x): x is string => typeof x === 'string') : [],
    }));
  return { matchLabels, matchExpressions };
}

/** MetalLB BGPPeer (metallb.io/v1beta2): spec.peerAddress, spec.nodeSelectors. */
export function bgpPeerOf(o: unknown): BgpPeerSpec | null {
  const name = objectKey(o);
  const spec = obj(obj(o)?.['spec']);
  const peer = typeof spec?.['peerAddress'] === 'string' ? canonicalIp(spec['peerAddress']) : null;
  if (!name || !peer) return null;
  const sels = Array.isArray(spec?.['nodeSelectors']) ? spec['nodeSelectors'].map(labelSelector) : [];
  // A selector that does not parse matches nothing rather than everything.
  if (sels.some((x) => x === null))
    return { name, peer, nodeSelectors: [{ matchLabels: {}, matchExpressions: [{ key: '', operator: 'Invalid', values: [] }] }] };
  return { name, peer, nodeSelectors: sels as LabelSelector[] };
}

/** Kubernetes label-selector semantics: all matchLabels and all expressions (In, NotIn, Exists, DoesNotExist). */
export function selectorMatches(sel: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels)) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions) {
    const has = Object.hasOwn(labels, e.key);
    if (e.operator === 'In' && !(has && e.values.includes(labels[e.key]!))) return false;
    if (e.operator === 'NotIn' && has && e.values.includes(labels[e.key]!)) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
    if (!['In', 'NotIn', 'Exists', 'DoesNotExist'].includes(e.operator)) return false;
  }
  return true;
}

/** The peers MetalLB expects this node to have a session with (a peer with no selector applies to every node). */
export function peersForNode(peers: BgpPeerSpec[], labels: Record<string, string> | null): BgpPeerSpec[] {
  return peers.filter((p) => p.nodeSelectors.length === 0 || (labels !== null && p.nodeSelectors.some((s) => selectorMatches(s, labels))));
}

export interface ServiceEndpoint {
  /** namespace/name of the Service the slice belongs to */
  service: string;
  ip: string;
  port: number | null;
  /** the node the endpoint runs on (EndpointSlice endpoints[].nodeName) */
  node: string | null;
}

/** Endpoints a slice may hold (the API caps a slice at 1000): a larger list is malformed, not trusted. */
export const MAX_SLICE_ENDPOINTS = 1000;

/**
 * EndpointSlice (discovery.k8s.io/v1): the backends of a Service, labelled kubernetes.io/service-name.
 *   endpoints: [{ addresses: [IP], nodeName, conditions: { ready } }], ports: [{ port, protocol }]
 * Endpoints that are not ready get no traffic from kube-proxy and are left out.
 */
export function endpointsOfSlice(o: unknown): ServiceEndpoint[] {
  const md = obj(obj(o)?.['metadata']);
  const ns = md?.['namespace'];
  const name = obj(md?.['labels'])?.['kubernetes.io/service-name'];
  if (typeof ns !== 'string' || typeof name !== 'string') return [];
  const eps = obj(o)?.['endpoints'];
  if (!Array.isArray(eps) || eps.length > MAX_SLICE_ENDPOINTS) return [];
  const ports = obj(o)?.['ports'];
  const firstPort = Array.isArray(ports) ? obj(ports[0])?.['port'] : undefined;
  const port = typeof firstPort === 'number' && Number.isInteger(firstPort) && firstPort > 0 && firstPort < 65536 ? firstPort : null;
  const out: ServiceEndpoint[] = [];
  for (const e of eps) {
    const ep = obj(e);
    if (obj(ep?.['conditions'])?.['ready'] === false) continue;
    const node = ep?.['nodeName'];
    const addrs = ep?.['addresses'];
    if (!Array.isArray(addrs)) continue;
    for (const a of addrs.slice(0, 1)) {
      const ip = typeof a === 'string' ? canonicalIp(a) : null;
      if (ip) out.push({ service: `${ns}/${name}`, ip, port, node: typeof node === 'string' ? node : null });
    }
  }
  return out;
}
