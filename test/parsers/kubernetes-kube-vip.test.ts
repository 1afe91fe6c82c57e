// kube-vip's marks on Services (kube-vip.io/vipHost, kube-vip.io/loadbalancerIPs, kube-vip.io/leaseName), its Leases,
// and which node holds each VIP. Objects are shaped as kube-vip and client-go's leader election write them.

import { describe, expect, it } from 'vitest';
import { leaseOf, MAX_ANNOTATION_IPS, vipsOfService } from '../../agent/kubernetes/objects.js';
import { applyKubeVip, LEASE_EXPIRY_GRACE_S, type VipSpec } from '../../agent/analysis/vips.js';

const NOW = Date.parse('2026-11-28T04:00:00Z');

function service(name: string, annotations: Record<string, string>, extra: { ingress?: string[]; spec?: Record<string, unknown> } = {}) {
  return {
    kind: 'Service',
    apiVersion: 'v1',
    metadata: { name, namespace: 'shop', uid: `uid-${name}`, resourceVersion: '9', annotations },
    spec: { type: 'LoadBalancer', clusterIP: '10.96.0.9', ports: [{ port: 80, protocol: 'TCP' }], ...extra.spec },
    status: { loadBalancer: { ingress: (extra.ingress ?? []).map((ip) => ({ ip, ipMode: 'VIP' })) } },
  };
}

function lease(ns: string, name: string, holder: string | undefined, renewTime = '2026-11-28T03:59:58.123456Z', duration = 15) {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, namespace: ns, resourceVersion: '77' },
    spec: {
      ...(holder === undefined ? {} : { holderIdentity: holder }),
      leaseDurationSeconds: duration,
      acquireTime: '2026-11-28T03:00:00.000000Z',
      renewTime,
      leaseTransitions: 2,
    },
  };
}

describe('kube-vip marks on a Service', () => {
  it('reads kube-vip.io/vipHost and the per-Service Lease name kube-vip would use (kubevip-<name>, same namespace)', () => {
    const [v] = vipsOfService(service('web', { 'kube-vip.io/vipHost': 'node-b' }, { ingress: ['192.0.2.10'] }));
    expect(v!.kubeVip).toEqual({ vipHost: 'node-b', lease: 'shop/kubevip-web', leaseNamed: false, marked: true });
  });
  it('takes kube-vip.io/leaseName, with a namespace when it has one', () => {
    const a = vipsOfService(service('a', { 'kube-vip.io/leaseName': 'common' }, { ingress: ['192.0.2.11'] }))[0]!;
    const b = vipsOfService(service('b', { 'kube-vip.io/leaseName': 'kube-system/common' }, { ingress: ['192.0.2.12'] }))[0]!;
    expect([a.kubeVip.lease, a.kubeVip.leaseNamed, b.kubeVip.lease]).toEqual(['shop/common', true, 'kube-system/common']);
  });
  it("counts kube-vip's loadBalancerClass as a mark, and nothing else", () => {
    const cls = vipsOfService(service('c', {}, { ingress: ['192.0.2.13'], spec: { loadBalancerClass: 'kube-vip.io/kube-vip-class' } }))[0]!;
    const plain = vipsOfService(service('p', { 'metallb.universe.tf/address-pool': 'x' }, { ingress: ['192.0.2.14'] }))[0]!;
    expect([cls.kubeVip.marked, plain.kubeVip.marked, plain.kubeVip.vipHost]).toEqual([true, false, null]);
  });
  it('drops a vipHost that is not a node name (it ends up in reports)', () => {
    expect(vipsOfService(service('w', { 'kube-vip.io/vipHost': '$(reboot)' }, { ingress: ['192.0.2.15'] }))[0]!.kubeVip.vipHost).toBeNull();
  });
  it('takes VIPs from kube-vip.io/loadbalancerIPs (comma-separated, spaces trimmed, names skipped), at most MAX_ANNOTATION_IPS', () => {
    const vips = vipsOfService(service('lb', { 'kube-vip.io/loadbalancerIPs': '192.0.2.20, 2001:db8::20 ,lb.example.com,192.0.2.20' }));
    expect(vips.map((v) => `${v.ip} ${v.from}`)).toEqual([
      '192.0.2.20 kube-vip.io/loadbalancerIPs',
      '2001:db8::20 kube-vip.io/loadbalancerIPs',
    ]);
    const many = Array.from({ length: MAX_ANNOTATION_IPS + 4 }, (_, i) => `198.18.0.${i + 1}`).join(',');
    expect(vipsOfService(service('many', { 'kube-vip.io/loadbalancerIPs': many }))).toHaveLength(MAX_ANNOTATION_IPS);
  });
  it('ignores kube-vip.io/loadbalancerIPs on a Service that is not of type LoadBalancer', () => {
    expect(vipsOfService(service('ci', { 'kube-vip.io/loadbalancerIPs': '192.0.2.30' }, { spec: { type: 'ClusterIP' } }))).toEqual([]);
  });
});

describe('leaseOf', () => {
  it('reads holderIdentity, renewTime (microseconds) and leaseDurationSeconds', () => {
    expect(leaseOf(lease('shop', 'kubevip-web', 'node-a'))).toEqual({
      lease: 'shop/kubevip-web',
      holder: 'node-a',
      renewedAt: Date.parse('2026-11-28T03:59:58.123Z'),
      leaseDurationSeconds: 15,
    });
  });
  it('a released Lease (empty holderIdentity) or a holder that is not a node name has no holder', () => {
    expect(leaseOf(lease('shop', 'kubevip-web', ''))!.holder).toBeNull();
    expect(leaseOf(lease('shop', 'kubevip-web', undefined))!.holder).toBeNull();
    expect(leaseOf(lease('shop', 'kubevip-web', 'Node A'))!.holder).toBeNull();
  });
  it('skips objects without metadata or spec, and unreadable times', () => {
    expect(leaseOf({ spec: { holderIdentity: 'n' } })).toBeNull();
    expect(leaseOf({ metadata: { name: 'x', namespace: 'y' } })).toBeNull();
    expect(leaseOf(lease('a', 'b', 'n', 'yesterday', -3))).toMatchObject({ renewedAt: null, leaseDurationSeconds: null });
  });
});

describe('applyKubeVip', () => {
  const spec = (ip: string, service: string): VipSpec => ({ ip, ingress: null, source: 'kubernetes', service });
  const marksOf = (...svcs: unknown[]) => new Map(svcs.map((s) => vipsOfService(s)[0]!).map((v) => [v.service, v.kubeVip]));
  const leases = (...ls: unknown[]) => ls.map((l) => leaseOf(l)!);
  const GLOBAL = 'kube-system/plndr-svcs-lock';
  const run = (vips: VipSpec[], marks: ReturnType<typeof marksOf>, ls: ReturnType<typeof leases>, node = 'node-a') =>
    applyKubeVip(vips, marks, ls, GLOBAL, node, NOW).map((v) => v.kubeVip ?? null);

  it('annotation only: the node kube-vip.io/vipHost names', () => {
    const marks = marksOf(service('web', { 'kube-vip.io/vipHost': 'node-a' }, { ingress: ['192.0.2.10'] }));
    expect(run([spec('192.0.2.10', 'shop/web')], marks, [])).toEqual([
      { here: true, nodes: ['node-a'], via: 'service-annotation', lease: null },
    ]);
  });
  it("the Service's own Lease beats a stale annotation (kube-vip writes vipHost only after winning, and never clears it)", () => {
    const marks = marksOf(service('web', { 'kube-vip.io/vipHost': 'node-b' }, { ingress: ['192.0.2.10'] }));
    expect(run([spec('192.0.2.10', 'shop/web')], marks, leases(lease('shop', 'kubevip-web', 'node-a')))).toEqual([
      { here: true, nodes: ['node-a'], via: 'lease', lease: 'shop/kubevip-web' },
    ]);
  });
  it('the global services Lease holds every marked Service without a Lease of its own, and no unmarked one', () => {
    const marks = marksOf(
      service('cart', { 'kube-vip.io/loadbalancerIPs': '192.0.2.40' }),
      service('plain', {}, { ingress: ['192.0.2.41'] }),
    );
    const out = run(
      [spec('192.0.2.40', 'shop/cart'), spec('192.0.2.41', 'shop/plain')],
      marks,
      leases(lease('kube-system', 'plndr-svcs-lock', 'node-b')),
    );
    expect(out).toEqual([{ here: false, nodes: ['node-b'], via: 'lease', lease: GLOBAL }, null]);
  });
  it('a Lease held by another node: here is false', () => {
    const marks = marksOf(service('web', {}, { ingress: ['192.0.2.10'], spec: { loadBalancerClass: 'kube-vip.io/kube-vip-class' } }));
    expect(run([spec('192.0.2.10', 'shop/web')], marks, leases(lease('shop', 'kubevip-web', 'node-c')))).toEqual([
      { here: false, nodes: ['node-c'], via: 'lease', lease: 'shop/kubevip-web' },
    ]);
  });
  it('a released or abandoned Lease names nobody: the annotation is used, else nothing', () => {
    const marks = marksOf(
      service('web', { 'kube-vip.io/vipHost': 'node-b' }, { ingress: ['192.0.2.10'] }),
      service('x', {}, { ingress: ['192.0.2.11'] }),
    );
    const renewed = new Date(NOW - (15 + LEASE_EXPIRY_GRACE_S + 1) * 1000).toISOString();
    const justInTime = new Date(NOW - (15 + LEASE_EXPIRY_GRACE_S - 1) * 1000).toISOString();
    const vips = [spec('192.0.2.10', 'shop/web'), spec('192.0.2.11', 'shop/x')];
    expect(run(vips, marks, leases(lease('shop', 'kubevip-web', 'node-a', renewed), lease('shop', 'kubevip-x', '')))).toEqual([
      { here: false, nodes: ['node-b'], via: 'service-annotation', lease: null },
      null,
    ]);
    expect(run(vips, marks, leases(lease('shop', 'kubevip-web', 'node-a', justInTime)))[0]).toMatchObject({ via: 'lease', here: true });
  });
  it('absent: no marks, no Lease, a configured VIP: null', () => {
    const marks = marksOf(service('p', {}, { ingress: ['192.0.2.50'] }));
    expect(run([spec('192.0.2.50', 'shop/p'), { ip: '192.0.2.51', ingress: null, source: 'flag' }], marks, [])).toEqual([null, null]);
  });
  it('a Lease named by kube-vip.io/leaseName in another namespace', () => {
    const marks = marksOf(service('a', { 'kube-vip.io/leaseName': 'kube-system/common' }, { ingress: ['192.0.2.60'] }));
    expect(
      run([spec('192.0.2.60', 'shop/a')], marks, leases(lease('kube-system', 'common', 'node-a'), lease('shop', 'kubevip-a', 'node-z'))),
    ).toEqual([{ here: true, nodes: ['node-a'], via: 'lease', lease: 'kube-system/common' }]);
  });
});
