// VIPs from Kubernetes Service objects (core/v1): status.loadBalancer.ingress[].ip and spec.loadBalancerIP for
// type LoadBalancer, spec.externalIPs for any type. Malformed objects are skipped, not fatal.

import { canonicalIp } from '../net/ip.js';

export interface ServiceVip {
  ip: string;
  /** namespace/name */
  service: string;
  from: 'status.loadBalancer.ingress' | 'spec.loadBalancerIP' | 'spec.externalIPs';
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | null => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : null);

export function serviceKey(svc: unknown): string | null {
  const md = obj(obj(svc)?.['metadata']);
  const ns = md?.['namespace'];
  const name = md?.['name'];
  return typeof ns === 'string' && typeof name === 'string' ? `${ns}/${name}` : null;
}

export function vipsOfService(svc: unknown): ServiceVip[] {
  const key = serviceKey(svc);
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
