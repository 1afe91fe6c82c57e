// `asymroute serve` reading which node holds each kube-vip VIP, through the real CLI against the local Kubernetes API
// (capture off, no root): the Service's kube-vip.io/vipHost annotation, the per-Service Lease (svc_election), the
// global services Lease, a Lease named by kube-vip.io/leaseName, a holder that moves on the watch, and --kube-vip off.

import { expect, it } from 'vitest';
import { startServe } from '../helpers/cli.js';
import { startKubeApi, type KubeApi } from '../helpers/kube-api.js';
import { until } from '../helpers/wait.js';

const LEASES = '/apis/coordination.k8s.io/v1/leases';

function service(name: string, annotations: Record<string, string>, ingress: string[]) {
  return {
    kind: 'Service',
    apiVersion: 'v1',
    metadata: { name, namespace: 'shop', uid: `uid-${name}`, resourceVersion: '7', annotations },
    spec: { type: 'LoadBalancer', ports: [{ port: 443, protocol: 'TCP', targetPort: 8443, nodePort: 31443 }], clusterIP: '10.96.0.20' },
    status: { loadBalancer: { ingress: ingress.map((ip) => ({ ip, ipMode: 'VIP' })) } },
  };
}

// As client-go's leader election writes it for kube-vip, renewed a moment ago.
function lease(ns: string, name: string, holder: string) {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, namespace: ns, resourceVersion: '50' },
    spec: {
      holderIdentity: holder,
      leaseDurationSeconds: 15,
      acquireTime: new Date(Date.now() - 600_000).toISOString(),
      renewTime: new Date().toISOString(),
      leaseTransitions: 1,
    },
  };
}

const SERVICES = [
  // annotation only
  service('annot', { 'kube-vip.io/vipHost': 'node-a' }, ['198.51.100.81']),
  // svc_election: its own Lease says node-a, the annotation still names the previous holder
  service('web', { 'kube-vip.io/vipHost': 'node-b' }, ['198.51.100.82']),
  // the VIP only in kube-vip.io/loadbalancerIPs, held through the global services Lease
  service('cart', { 'kube-vip.io/loadbalancerIPs': '198.51.100.83' }, []),
  // not kube-vip's: no marks
  service('plain', {}, ['198.51.100.84']),
  // a Lease shared under kube-vip.io/leaseName, held by another node
  service('shared', { 'kube-vip.io/leaseName': 'kube-system/common', 'kube-vip.io/vipHost': 'node-c' }, ['198.51.100.85']),
];

const serve = (api: KubeApi, extra: string[] = []) =>
  startServe(['--kubernetes', 'on', '--kubeconfig', api.kubeconfig, '--auth', 'none', '--listen', '127.0.0.1', ...extra]);

const get = async (port: number, path: string) => (await fetch(`http://127.0.0.1:${port}${path}`)).text();
type Vips = { vips: Array<{ ip: string; kubeVip: unknown }> };
const holders = (body: string) => Object.fromEntries((JSON.parse(body) as Vips).vips.map((v) => [v.ip, v.kubeVip]));

it(
  'reads who holds each kube-vip VIP from its Leases and the vipHost annotation, and follows a holder that moves',
  { timeout: 60_000 },
  async () => {
    const api = await startKubeApi({
      lists: {
        '/api/v1/services': { kind: 'ServiceList', apiVersion: 'v1', metadata: { resourceVersion: '10' }, items: SERVICES },
        [LEASES]: {
          kind: 'LeaseList',
          apiVersion: 'coordination.k8s.io/v1',
          metadata: { resourceVersion: '60' },
          items: [
            lease('shop', 'kubevip-web', 'node-a'),
            lease('kube-system', 'common', 'node-c'),
            lease('kube-system', 'kube-scheduler', 'cp-1'),
          ],
        },
      },
    });
    const { port } = await serve(api);
    let body = '';
    await until(async () => (body = await get(port, '/v1/vips')).includes('kube-system/common'), 'the Leases applied', 20_000);
    expect(holders(body)).toEqual({
      '198.51.100.81': { here: true, nodes: ['node-a'], via: 'service-annotation', lease: null },
      '198.51.100.82': { here: true, nodes: ['node-a'], via: 'lease', lease: 'shop/kubevip-web' },
      '198.51.100.83': null,
      '198.51.100.84': null,
      '198.51.100.85': { here: false, nodes: ['node-c'], via: 'lease', lease: 'kube-system/common' },
      '198.51.100.10': null,
    });
    const selectors = api.requests.filter((r) => r.path === LEASES).map((r) => new URLSearchParams(r.search).get('fieldSelector'));
    expect(new Set(selectors)).toEqual(new Set(['metadata.namespace!=kube-node-lease']));
    let report = await get(port, '/');
    expect(report).toMatch(/198\.51\.100\.81 \[shop\/annot\][^\n]*\n {4}kube-vip: held by this node \(annotation kube-vip\.io\/vipHost\)/);
    expect(report).toMatch(/198\.51\.100\.82 \[shop\/web\][^\n]*\n {4}kube-vip: held by this node \(lease kubevip-web\)/);
    expect(report).toMatch(
      /198\.51\.100\.85 \[shop\/shared\][^\n]*\n {4}kube-vip: held by node-c, not this node \(lease kube-system\/common;/,
    );
    expect(report).toMatch(/198\.51\.100\.84 \[shop\/plain\][^\n]*\n(?! {4}kube-vip)/);
    expect(report).toMatch(/^kube-vip Leases: 2$/m);

    // kube-vip in global mode on node-b: its services Lease holds every kube-vip Service without a Lease of its own.
    api.emit(LEASES, 'ADDED', lease('kube-system', 'plndr-svcs-lock', 'node-b'));
    await until(async () => (body = await get(port, '/v1/vips')).includes('plndr-svcs-lock'), 'the global Lease', 20_000);
    expect(holders(body)).toMatchObject({
      '198.51.100.81': { here: false, nodes: ['node-b'], via: 'lease', lease: 'kube-system/plndr-svcs-lock' },
      '198.51.100.82': { here: true, nodes: ['node-a'], via: 'lease', lease: 'shop/kubevip-web' },
      '198.51.100.83': { here: false, nodes: ['node-b'], via: 'lease', lease: 'kube-system/plndr-svcs-lock' },
      '198.51.100.84': null,
    });
    report = await get(port, '/');
    expect(report).toMatch(
      /198\.51\.100\.83 \[shop\/cart\][^\n]*\n {4}kube-vip: held by node-b, not this node \(lease kube-system\/plndr-svcs-lock;/,
    );
    expect(report).toMatch(/^kube-vip Leases: 3$/m);
    const metrics = await get(port, '/metrics');
    expect(metrics).toMatch(/^asymroute_vip_announced\{vip="198\.51\.100\.82",mode="kube-vip"\} 1$/m);
    expect(metrics).toMatch(/^asymroute_vip_announced\{vip="198\.51\.100\.83",mode="kube-vip"\} 0$/m);
    expect(metrics).not.toMatch(/vip="198\.51\.100\.84",mode="kube-vip"/);

    // Failover: kube-vip on node-b takes web's Lease.
    api.emit(LEASES, 'MODIFIED', lease('shop', 'kubevip-web', 'node-b'));
    await until(
      async () => (await get(port, '/metrics')).includes('asymroute_vip_announced{vip="198.51.100.82",mode="kube-vip"} 0'),
      'the failover',
      20_000,
    );
    expect(holders(await get(port, '/v1/vips'))['198.51.100.82']).toEqual({
      here: false,
      nodes: ['node-b'],
      via: 'lease',
      lease: 'shop/kubevip-web',
    });
    expect(await get(port, '/')).toMatch(/kube-vip: held by node-b, not this node \(lease kubevip-web;/);
  },
);

it('--kube-vip off: no Leases read, no holders, no VIPs from kube-vip.io/loadbalancerIPs', { timeout: 60_000 }, async () => {
  const api = await startKubeApi({
    lists: {
      '/api/v1/services': { kind: 'ServiceList', apiVersion: 'v1', metadata: { resourceVersion: '10' }, items: SERVICES },
      [LEASES]: { kind: 'LeaseList', metadata: { resourceVersion: '60' }, items: [lease('shop', 'kubevip-web', 'node-a')] },
    },
  });
  const { port } = await serve(api, ['--kube-vip', 'off']);
  let body = '';
  await until(async () => (body = await get(port, '/v1/vips')).includes('198.51.100.85'), 'the Services', 20_000);
  const h = holders(body);
  expect(Object.keys(h).sort()).toEqual(['198.51.100.10', '198.51.100.81', '198.51.100.82', '198.51.100.84', '198.51.100.85']);
  expect(Object.values(h).every((x) => x === null)).toBe(true);
  expect(api.requests.some((r) => r.path === LEASES)).toBe(false);
  expect(await get(port, '/')).not.toMatch(/kube-vip/);
});

it('Leases are not watched while no Service carries a kube-vip.io/ annotation', { timeout: 60_000 }, async () => {
  const api = await startKubeApi({
    lists: {
      '/api/v1/services': { kind: 'ServiceList', apiVersion: 'v1', metadata: { resourceVersion: '10' }, items: [SERVICES[3]] },
      [LEASES]: { kind: 'LeaseList', metadata: { resourceVersion: '60' }, items: [lease('shop', 'kubevip-plain', 'node-a')] },
    },
  });
  const { port } = await serve(api);
  const report = await (async () => {
    let r = '';
    await until(async () => (r = await get(port, '/')).includes('198.51.100.84'), 'the Service', 20_000);
    return r;
  })();
  expect(report).toMatch(/^kube-vip Leases: not watched \(no Service carries a kube-vip\.io\/ annotation\)$/m);
  expect(api.requests.some((r) => r.path === LEASES)).toBe(false);
});
