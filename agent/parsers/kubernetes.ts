// VIPs from Kubernetes Service objects (core/v1): status.loadBalancer.ingress[].ip and spec.loadBalancerIP for
// type LoadBalancer, spec.externalIPs for any type. Announcements from MetalLB's ServiceL2Status objects.
// Malformed objects are skipped, not fatal.

import { isIfname } from '../net/ifname.js';
import { canonicalIp } from '../net/ip.js';

export interface ServiceVip {
  ip: string;
  /** namespace/name */
  service: string;
  from: 'status.loadBalancer.ingress' | 'spec.loadBalancerIP' | 'spec.externalIPs';
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
  const out: ServiceVip[] = [];
  const add = (ip: unknown, from: ServiceVip['from']) => {
    const c = typeof ip === 'string' ? canonicalIp(ip) : null;
    if (c && !out.some((x) => x.ip === c)) out.push({ ip: c, service: key, from });
  };
  if (spec['type'] === 'LoadBalancer') {
    const ingress = obj(obj(obj(svc)?.['status'])?.['loadBalancer'])?.['ingress'];
    if (Array.isArray(ingress)) for (const i of ingress) add(obj(i)?.['ip'], 'status.loadBalancer.ingress');
    add(spec['loadBalancerIP'], 'spec.loadBalancerIP');
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
