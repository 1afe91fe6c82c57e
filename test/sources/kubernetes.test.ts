// The Service watcher against a local HTTP server that answers like the Kubernetes API (list, then a watch stream
// of ADDED / MODIFIED / DELETED / BOOKMARK and a 410 Gone that forces a new list), and against no server at all.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { l2StatusOf, peersForNode, vipsOfService, type ServiceVip } from '../../agent/kubernetes/objects.js';
import { bgpPeerWatcher, l2StatusWatcher, nodeLabels, serviceWatcher, type ListWatcher } from '../../agent/kubernetes/api.js';
import { until } from '../helpers/wait.js';

function service(ns: string, name: string, rv: string, spec: Record<string, unknown>, ingress: string[] = []) {
  return {
    kind: 'Service',
    apiVersion: 'v1',
    metadata: {
      name,
      namespace: ns,
      uid: `uid-${name}`,
      resourceVersion: rv,
      creationTimestamp: '2026-11-01T10:00:00Z',
      labels: { app: name },
    },
    spec: {
      ports: [{ name: 'https', protocol: 'TCP', port: 443, targetPort: 8443, nodePort: 31443 }],
      selector: { app: name },
      clusterIP: '10.96.0.10',
      clusterIPs: ['10.96.0.10'],
      sessionAffinity: 'None',
      ipFamilies: ['IPv4'],
      ipFamilyPolicy: 'SingleStack',
      internalTrafficPolicy: 'Cluster',
      externalTrafficPolicy: 'Cluster',
      ...spec,
    },
    status: { loadBalancer: spec['type'] === 'LoadBalancer' ? { ingress: ingress.map((ip) => ({ ip, ipMode: 'VIP' })) } : {} },
  };
}

const list = (rv: string, items: unknown[]) => ({ kind: 'ServiceList', apiVersion: 'v1', metadata: { resourceVersion: rv }, items });
const event = (type: string, object: unknown) => `${JSON.stringify({ type, object })}\n`;
const GONE = {
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Failure',
  message: 'too old resource version: 100 (250)',
  reason: 'Expired',
  code: 410,
};

function kubeconfig(server: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 't', server, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'replay-token' }],
    contexts: [{ name: 'c', cluster: 't', user: 'u' }],
    currentContext: 'c',
  });
  return kc;
}

describe('vipsOfService', () => {
  it.each([
    [
      'LoadBalancer with an ingress IP and a requested IP',
      service('default', 'web', '1', { type: 'LoadBalancer', loadBalancerIP: '192.168.1.241' }, ['192.168.1.240']),
      ['192.168.1.240 status.loadBalancer.ingress', '192.168.1.241 spec.loadBalancerIP'],
    ],
    [
      'ClusterIP with externalIPs',
      service('default', 'ext', '1', { type: 'ClusterIP', externalIPs: ['10.0.0.9'] }),
      ['10.0.0.9 spec.externalIPs'],
    ],
    ['ClusterIP without externalIPs', service('default', 'int', '1', { type: 'ClusterIP' }), []],
    [
      'garbage in the fields',
      service('default', 'bad', '1', { type: 'LoadBalancer', loadBalancerIP: 'not-an-ip', externalIPs: [42] }, ['nope']),
      [],
    ],
  ])('%s', (_n, svc, expected) => {
    expect(vipsOfService(svc).map((v) => `${v.ip} ${v.from}`)).toEqual(expected);
  });
  it('skips objects without metadata', () => {
    expect(vipsOfService({ spec: { type: 'LoadBalancer' } })).toEqual([]);
  });
});

describe('Service watcher', () => {
  let server: Server | null = null;
  let watcher: ListWatcher<ServiceVip> | null = null;
  afterEach(async () => {
    watcher?.stop();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r) ?? r(undefined));
    server = null;
  });

  it('lists, follows the watch, and lists again after 410 Gone', async () => {
    const seen: string[] = [];
    let lists = 0;
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      seen.push(`${req.headers.authorization} ${req.url}`);
      const url = new URL(req.url!, 'http://x');
      res.setHeader('content-type', 'application/json');
      if (url.pathname !== '/api/v1/services') return void res.writeHead(404).end('{}');
      if (url.searchParams.get('watch') !== 'true') {
        lists++;
        return void res.end(
          JSON.stringify(
            lists === 1
              ? list('100', [
                  service('default', 'web', '90', { type: 'LoadBalancer' }, ['192.168.1.240']),
                  service('default', 'ext', '91', { type: 'ClusterIP', externalIPs: ['10.0.0.9'] }),
                ])
              : list('300', [service('default', 'web', '290', { type: 'LoadBalancer' }, ['192.168.1.241'])]),
          ),
        );
      }
      if (url.searchParams.get('resourceVersion') === '100') {
        res.writeHead(200);
        res.write(event('ADDED', service('shop', 'cart', '101', { type: 'LoadBalancer' }, ['192.168.1.242'])));
        res.write(
          event('MODIFIED', service('default', 'web', '102', { type: 'LoadBalancer', loadBalancerIP: '192.168.1.250' }, ['192.168.1.250'])),
        );
        res.write(event('DELETED', service('default', 'ext', '103', { type: 'ClusterIP', externalIPs: ['10.0.0.9'] })));
        res.write(event('BOOKMARK', { kind: 'Service', apiVersion: 'v1', metadata: { resourceVersion: '104' } }));
        // 410 Gone once the client has applied the three changes (or gave up waiting: the assertions below then say which).
        const gone = () => res.end(event('ERROR', GONE));
        void until(() => states.length >= 4, 'the three watch events applied').then(gone, gone);
        return;
      }
      res.writeHead(200); // the second watch stays open
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const states: string[][] = [];
    watcher = serviceWatcher({
      kubeconfig: kubeconfig(`http://127.0.0.1:${port}`),
      onChange: (v) => states.push(v.map((x) => `${x.ip} ${x.service}`).sort()),
    });
    watcher.start();
    await until(() => lists === 2 && seen.some((s) => s.includes('resourceVersion=300')));
    expect(states[0]).toEqual(['10.0.0.9 default/ext', '192.168.1.240 default/web']);
    expect(states).toContainEqual(['10.0.0.9 default/ext', '192.168.1.240 default/web', '192.168.1.242 shop/cart']);
    expect(states).toContainEqual(['192.168.1.242 shop/cart', '192.168.1.250 default/web']);
    expect(states.at(-1)).toEqual(['192.168.1.241 default/web']);
    expect(seen.every((s) => s.startsWith('Bearer replay-token '))).toBe(true);
    expect(seen.filter((s) => s.includes('watch=true'))[0]).toMatch(/resourceVersion=100/);
    expect(watcher.status).toMatchObject({ connected: true, lists: 2, objects: 1 });
  });

  it('keeps retrying with backoff when the API is unreachable, and says why', async () => {
    server = createServer();
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    await new Promise((r) => server!.close(r));
    server = null;
    watcher = serviceWatcher({ kubeconfig: kubeconfig(`http://127.0.0.1:${port}`), onChange: () => undefined, backoffMs: 20 });
    watcher.start();
    await until(() => watcher!.status.lastError !== null);
    expect(watcher.status.connected).toBe(false);
    expect(watcher.status.lastError).toMatch(/fetch failed|ECONNREFUSED/);
    expect(watcher.items()).toEqual([]);
  });
});

// As MetalLB's speaker writes them (metallb.io/v1beta1 ServiceL2Status, one per Service and announcing node).
function l2Status(name: string, rv: string, status: Record<string, unknown>) {
  return {
    apiVersion: 'metallb.io/v1beta1',
    kind: 'ServiceL2Status',
    metadata: {
      name,
      namespace: 'metallb-system',
      generateName: 'l2-',
      resourceVersion: rv,
      uid: `uid-${name}`,
      labels: {
        'metallb.io/node': status['node'],
        'metallb.io/service-name': status['serviceName'],
        'metallb.io/service-namespace': status['serviceNamespace'],
      },
    },
    spec: {},
    status,
  };
}

describe('l2StatusOf', () => {
  it.each([
    [
      'one interface',
      { node: 'node-a', serviceName: 'web', serviceNamespace: 'shop', interfaces: [{ name: 'eth1' }] },
      { service: 'shop/web', node: 'node-a', interfaces: ['eth1'] },
    ],
    [
      'no interfaces listed',
      { node: 'node-a', serviceName: 'web', serviceNamespace: 'shop' },
      { service: 'shop/web', node: 'node-a', interfaces: [] },
    ],
    [
      'invalid and repeated interface names dropped',
      {
        node: 'n',
        serviceName: 'web',
        serviceNamespace: 'shop',
        interfaces: [{ name: 'eth1' }, { name: 'eth1' }, { name: '-rf /' }, { name: 7 }, 'x'],
      },
      { service: 'shop/web', node: 'n', interfaces: ['eth1'] },
    ],
    ['status not yet written', {}, null],
    ['node missing', { serviceName: 'web', serviceNamespace: 'shop' }, null],
  ])('%s', (_n, status, expected) => {
    expect(l2StatusOf(l2Status('l2-x', '1', status))).toEqual(expected);
  });
  it('skips objects that are not objects', () => {
    expect(l2StatusOf(null)).toBeNull();
    expect(l2StatusOf({ status: [] })).toBeNull();
  });
});

describe('MetalLB ServiceL2Status watcher', () => {
  let server: Server | null = null;
  let watcher: { stop(): void } | null = null;
  afterEach(async () => {
    watcher?.stop();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r) ?? r(undefined));
    server = null;
  });

  it('lists and follows announcements as they move between nodes', async () => {
    const paths: string[] = [];
    server = createServer((req, res) => {
      const url = new URL(req.url!, 'http://x');
      paths.push(url.pathname);
      res.setHeader('content-type', 'application/json');
      if (url.pathname !== '/apis/metallb.io/v1beta1/servicel2statuses') return void res.writeHead(404).end('{}');
      if (url.searchParams.get('watch') !== 'true') {
        return void res.end(
          JSON.stringify({
            apiVersion: 'metallb.io/v1beta1',
            kind: 'ServiceL2StatusList',
            metadata: { resourceVersion: '50' },
            items: [
              l2Status('l2-a', '40', { node: 'node-a', serviceName: 'web', serviceNamespace: 'shop', interfaces: [{ name: 'eth1' }] }),
            ],
          }),
        );
      }
      res.writeHead(200);
      // Failover: node-a's status goes away, node-b's appears.
      res.write(
        event(
          'DELETED',
          l2Status('l2-a', '51', { node: 'node-a', serviceName: 'web', serviceNamespace: 'shop', interfaces: [{ name: 'eth1' }] }),
        ),
      );
      res.write(
        event(
          'ADDED',
          l2Status('l2-b', '52', { node: 'node-b', serviceName: 'web', serviceNamespace: 'shop', interfaces: [{ name: 'ens4' }] }),
        ),
      );
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const states: string[][] = [];
    const w = l2StatusWatcher({
      kubeconfig: kubeconfig(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
      onChange: (v) => states.push(v.map((x) => `${x.service} ${x.node} ${x.interfaces.join(',')}`)),
    });
    watcher = w;
    w.start();
    await until(() => states.length >= 3);
    expect(states).toEqual([['shop/web node-a eth1'], [], ['shop/web node-b ens4']]);
    expect(w.status).toMatchObject({ connected: true, objects: 1, lastHttpStatus: null });
  });

  it('reports a cluster without the CRD as HTTP 404 and keeps retrying', async () => {
    let lists = 0;
    server = createServer((_req, res) => {
      lists++;
      res.writeHead(404, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          kind: 'Status',
          apiVersion: 'v1',
          status: 'Failure',
          message: 'the server could not find the requested resource',
          reason: 'NotFound',
          code: 404,
        }),
      );
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const errors: string[] = [];
    const w = l2StatusWatcher({
      kubeconfig: kubeconfig(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
      onChange: () => undefined,
      onError: (e) => errors.push(e),
      backoffMs: 20,
    });
    watcher = w;
    w.start();
    await until(() => lists >= 3);
    expect(w.status).toMatchObject({ connected: false, lastHttpStatus: 404 });
    expect(errors).toHaveLength(1); // the same error repeating is reported once
    expect(errors[0]).toMatch(/GET \/apis\/metallb\.io\/v1beta1\/servicel2statuses: HTTP 404/);
  });
});

describe('MetalLB BGPPeer watcher and node labels, after the first list', () => {
  let server: Server | null = null;
  let watcher: { stop(): void } | null = null;
  afterEach(async () => {
    watcher?.stop();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r) ?? r(undefined));
    server = null;
  });

  const peer = (name: string, rv: string, address: string, nodeSelectors: unknown[] = []) => ({
    apiVersion: 'metallb.io/v1beta2',
    kind: 'BGPPeer',
    metadata: { name, namespace: 'metallb-system', uid: `uid-${name}`, resourceVersion: rv },
    spec: { myASN: 64512, peerASN: 64513, peerAddress: address, nodeSelectors },
  });

  it('follows BGPPeers modified, added and deleted on the watch, and node label changes, into the expected peers', async () => {
    let nodeGets = 0;
    let releaseWatch!: () => void;
    const watchMay = new Promise<void>((r) => (releaseWatch = r));
    server = createServer((req, res) => {
      const url = new URL(req.url!, 'http://x');
      res.setHeader('content-type', 'application/json');
      if (url.pathname === '/api/v1/nodes/node-a') {
        nodeGets++;
        return void res.end(
          JSON.stringify({
            kind: 'Node',
            apiVersion: 'v1',
            metadata: { name: 'node-a', labels: nodeGets === 1 ? { rack: 'r1' } : { rack: 'r2' } },
          }),
        );
      }
      if (url.pathname !== '/apis/metallb.io/v1beta2/bgppeers') return void res.writeHead(404).end('{}');
      if (url.searchParams.get('watch') !== 'true') {
        return void res.end(
          JSON.stringify({
            apiVersion: 'metallb.io/v1beta2',
            kind: 'BGPPeerList',
            metadata: { resourceVersion: '10' },
            items: [peer('tor-a', '5', '10.0.0.1')],
          }),
        );
      }
      res.writeHead(200);
      void watchMay.then(() => {
        res.write(event('MODIFIED', peer('tor-a', '11', '10.0.0.9')));
        res.write(event('ADDED', peer('tor-r2', '12', '10.0.0.2', [{ matchLabels: { rack: 'r2' } }])));
        res.write(event('DELETED', peer('tor-a', '13', '10.0.0.9')));
      });
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const kc = kubeconfig(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const states: string[][] = [];
    const w = bgpPeerWatcher({ kubeconfig: kc, onChange: (v) => states.push(v.map((x) => `${x.name} ${x.peer}`).sort()) });
    watcher = w;
    w.start();
    await until(() => states.length >= 1, 'the first list');
    expect(states[0]).toEqual(['metallb-system/tor-a 10.0.0.1']);
    const labelsBefore = await nodeLabels(kc, 'node-a');
    releaseWatch();
    await until(() => states.length >= 4, 'three watch events');
    expect(states.slice(1)).toEqual([
      ['metallb-system/tor-a 10.0.0.9'],
      ['metallb-system/tor-a 10.0.0.9', 'metallb-system/tor-r2 10.0.0.2'],
      ['metallb-system/tor-r2 10.0.0.2'],
    ]);
    // The node moved to rack r2 after the first read of its labels: only the second read expects tor-r2 here.
    expect(peersForNode(w.items(), labelsBefore).map((p) => p.peer)).toEqual([]);
    const labelsAfter = await nodeLabels(kc, 'node-a');
    expect(peersForNode(w.items(), labelsAfter).map((p) => p.peer)).toEqual(['10.0.0.2']);
    expect(nodeGets).toBe(2);
  });
});
