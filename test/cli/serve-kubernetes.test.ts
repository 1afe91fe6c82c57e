// `asymroute serve` with Kubernetes discovery, through the real CLI against a local API that answers like the real
// one (capture off, so no root is needed: the checks only read this host's routing).

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { execa, type ResultPromise } from 'execa';
import { afterEach, expect, it } from 'vitest';
import { BIN, collectLines, startServe } from '../helpers/cli.js';
import { kubeconfigFile, startKubeApi } from '../helpers/kube-api.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

const SVC = {
  kind: 'Service',
  apiVersion: 'v1',
  metadata: { name: 'web', namespace: 'shop', uid: 'u1', resourceVersion: '7', creationTimestamp: '2026-11-01T10:00:00Z' },
  spec: { type: 'LoadBalancer', ports: [{ port: 443, protocol: 'TCP', targetPort: 8443, nodePort: 31443 }], clusterIP: '10.96.0.20' },
  status: { loadBalancer: { ingress: [{ ip: '198.51.100.77', ipMode: 'VIP' }] } },
};

let api: Server | null = null;
let agent: ResultPromise | null = null;
afterEach(async () => {
  agent?.kill('SIGTERM');
  await agent;
  api?.closeAllConnections();
  await new Promise((r) => api?.close(r) ?? r(undefined));
  api = null;
  agent = null;
});

// Loopback, read without tokens: serve-auth.test.ts covers the default, --auth kubernetes.
const start = (kubeconfig: string) =>
  startServe(['--kubernetes', 'on', '--kubeconfig', kubeconfig, '--auth', 'none', '--listen', '127.0.0.1'], 15_000);

async function waitFor(url: string, pred: (body: string) => boolean): Promise<string> {
  const t0 = Date.now();
  for (;;) {
    const body = await (await fetch(url)).text();
    if (pred(body)) return body;
    if (Date.now() - t0 > 15_000) throw new Error(`timed out; last body: ${body}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const NOT_FOUND = {
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Failure',
  message: 'the server could not find the requested resource',
  reason: 'NotFound',
  details: {},
  code: 404,
};

// List answers by path (watches stay open with nothing to say); anything else is a 404 like the API server's.
async function replayApi(lists: Record<string, unknown>, auth: string[] = []): Promise<string> {
  api = createServer((req, res) => {
    auth.push(String(req.headers.authorization));
    const url = new URL(req.url!, 'http://x');
    res.setHeader('content-type', 'application/json');
    const body = lists[url.pathname];
    if (!body) return void res.writeHead(404).end(JSON.stringify(NOT_FOUND));
    if (url.searchParams.get('watch') === 'true') return void res.writeHead(200);
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((r) => api!.listen(0, '127.0.0.1', r));
  return kubeconfigFile(`http://127.0.0.1:${(api.address() as AddressInfo).port}`);
}

const SERVICES = { '/api/v1/services': { kind: 'ServiceList', apiVersion: 'v1', metadata: { resourceVersion: '10' }, items: [SVC] } };

it('checks the VIPs of LoadBalancer Services and names the Service', { timeout: 60_000 }, async () => {
  const auth: string[] = [];
  const { port } = await start(await replayApi(SERVICES, auth));
  const body = await waitFor(`http://127.0.0.1:${port}/v1/vips`, (b) => b.includes('198.51.100.77'));
  const vips = (JSON.parse(body) as { vips: Array<{ ip: string; source: string; service: string | null }> }).vips;
  expect(vips.map((v) => [v.ip, v.source, v.service]).sort()).toEqual([
    ['198.51.100.10', 'flag', null],
    ['198.51.100.77', 'kubernetes', 'shop/web'],
  ]);
  const report = await (await fetch(`http://127.0.0.1:${port}/`)).text();
  expect(report).toMatch(/198\.51\.100\.77 \[shop\/web\]/);
  expect(report).toMatch(/Kubernetes: connected, 1 Services/);
  expect(report).toMatch(/MetalLB ServiceL2Status: not installed/);
  expect(report).not.toMatch(/MetalLB L2:/);
  expect(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).toMatch(/asymroute_kubernetes_up 1/);
  expect(auth.every((a) => a === 'Bearer t0k3n')).toBe(true);
});

it('keeps running on the other VIP sources when the API is unreachable, and reports it', { timeout: 60_000 }, async () => {
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const deadPort = (closed.address() as AddressInfo).port;
  await new Promise((r) => closed.close(r));
  const { port } = await start(kubeconfigFile(`http://127.0.0.1:${deadPort}`));
  await waitFor(`http://127.0.0.1:${port}/readyz`, (b) => b.includes('"ready":true'));
  const report = await waitFor(`http://127.0.0.1:${port}/`, (b) => /Kubernetes: UNREACHABLE \(fetch failed|ECONNREFUSED/.test(b));
  expect(report).toMatch(/198\.51\.100\.10/);
  expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
  expect(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).toMatch(/asymroute_kubernetes_up 0/);
});

it('takes the announcing node and interface from MetalLB ServiceL2Status', { timeout: 60_000 }, async () => {
  const l2 = (node: string, iface: string) => ({
    apiVersion: 'metallb.io/v1beta1',
    kind: 'ServiceL2Status',
    metadata: { name: `l2-${node}`, namespace: 'metallb-system', resourceVersion: '20' },
    spec: {},
    status: { node, serviceName: 'web', serviceNamespace: 'shop', interfaces: [{ name: iface }] },
  });
  const other = {
    ...SVC,
    metadata: { ...SVC.metadata, name: 'cart', uid: 'u2' },
    status: { loadBalancer: { ingress: [{ ip: '198.51.100.78', ipMode: 'VIP' }] } },
  };
  const { port } = await start(
    await replayApi({
      '/api/v1/services': { kind: 'ServiceList', apiVersion: 'v1', metadata: { resourceVersion: '10' }, items: [SVC, other] },
      '/apis/metallb.io/v1beta1/servicel2statuses': {
        kind: 'ServiceL2StatusList',
        apiVersion: 'metallb.io/v1beta1',
        metadata: { resourceVersion: '21' },
        items: [l2('node-a', 'ens5'), { ...l2('node-b', 'eth1'), status: { ...l2('node-b', 'eth1').status, serviceName: 'cart' } }],
      },
    }),
  );
  const body = await waitFor(`http://127.0.0.1:${port}/v1/vips`, (b) => b.includes('ens5') && b.includes('node-b'));
  const vips = (JSON.parse(body) as { vips: Array<{ ip: string; ingress: string | null; ingressReason: string; announcement: unknown }> })
    .vips;
  expect(vips.find((v) => v.ip === '198.51.100.77')).toMatchObject({
    ingress: 'ens5',
    ingressReason: 'MetalLB announces it from this node on ens5',
    announcement: { nodes: ['node-a'], here: true, interfaces: ['ens5'] },
  });
  expect(vips.find((v) => v.ip === '198.51.100.78')).toMatchObject({ announcement: { nodes: ['node-b'], here: false } });
  const report = await (await fetch(`http://127.0.0.1:${port}/`)).text();
  expect(report).toMatch(/198\.51\.100\.77 \[shop\/web\]: requests arrive on ens5 \(MetalLB announces it from this node on ens5\)/);
  expect(report).toMatch(/MetalLB L2: announced by this node on ens5/);
  expect(report).toMatch(/MetalLB L2: announced by node-b, not this node/);
  expect(report).toMatch(/MetalLB ServiceL2Status: 2 objects/);
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  expect(metrics).toMatch(/asymroute_vip_announced\{vip="198\.51\.100\.77",mode="l2"\} 1/);
  expect(metrics).toMatch(/asymroute_vip_announced\{vip="198\.51\.100\.78",mode="l2"\} 0/);
});

it("expects the BGP sessions MetalLB's BGPPeers give this node, and reports the missing one", { timeout: 60_000 }, async () => {
  const bgpPeer = (name: string, peerAddress: string, nodeSelectors?: unknown[]) => ({
    apiVersion: 'metallb.io/v1beta2',
    kind: 'BGPPeer',
    metadata: { name, namespace: 'metallb-system', resourceVersion: '30' },
    spec: { myASN: 64512, peerASN: 64500, peerAddress, ...(nodeSelectors ? { nodeSelectors } : {}) },
  });
  const { port } = await start(
    await replayApi({
      ...SERVICES,
      '/apis/metallb.io/v1beta2/bgppeers': {
        kind: 'BGPPeerList',
        apiVersion: 'metallb.io/v1beta2',
        metadata: { resourceVersion: '31' },
        items: [
          bgpPeer('tor-a', '198.51.100.254', [{ matchLabels: { rack: 'a' } }]),
          bgpPeer('tor-b', '198.51.100.253', [{ matchLabels: { rack: 'b' } }]),
        ],
      },
      '/api/v1/nodes/node-a': {
        kind: 'Node',
        apiVersion: 'v1',
        metadata: { name: 'node-a', labels: { 'kubernetes.io/hostname': 'node-a', rack: 'a' } },
      },
    }),
  );
  const body = await waitFor(`http://127.0.0.1:${port}/v1/bgp`, (b) => b.includes('198.51.100.254'));
  const peers = (JSON.parse(body) as { peers: Array<{ peer: string; expected: boolean; expectedBy: string; up: boolean }> }).peers;
  // The rack-b router is not this node's business.
  expect(peers.map((p) => [p.peer, p.expected, p.expectedBy, p.up])).toEqual([
    ['198.51.100.254', true, 'MetalLB BGPPeer metallb-system/tor-a', false],
  ]);
  const findings = await waitFor(`http://127.0.0.1:${port}/v1/findings`, (b) => b.includes('bgp-session-down'));
  expect(findings).toMatch(
    /BGP session with 198\.51\.100\.254 \(MetalLB BGPPeer metallb-system\/tor-a\) is down since \S+ \(no TCP connection on port 179\)/,
  );
  const report = await (await fetch(`http://127.0.0.1:${port}/`)).text();
  expect(report).toMatch(/^BGP: 198\.51\.100\.254 DOWN since \S+ \(expected by MetalLB BGPPeer metallb-system\/tor-a\)$/m);
  expect(report).toMatch(/^MetalLB BGPPeer: 2 objects$/m);
  expect(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).toMatch(
    /^asymroute_bgp_session_up\{peer="198\.51\.100\.254",expected="true"\} 0$/m,
  );
});

it(
  "takes a VIP's backends from its Service's EndpointSlices (ready endpoints only) and names their node",
  { timeout: 60_000 },
  async () => {
    const slice = {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'web-abc12', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'web' }, resourceVersion: '40' },
      addressType: 'IPv4',
      ports: [{ name: 'https', port: 8443, protocol: 'TCP' }],
      endpoints: [
        { addresses: ['10.244.1.5'], nodeName: 'node-b', conditions: { ready: true } },
        { addresses: ['10.244.2.9'], nodeName: 'node-c', conditions: { ready: false } },
      ],
    };
    const { port } = await start(
      await replayApi({
        ...SERVICES,
        '/apis/discovery.k8s.io/v1/endpointslices': {
          kind: 'EndpointSliceList',
          apiVersion: 'discovery.k8s.io/v1',
          metadata: { resourceVersion: '41' },
          items: [slice],
        },
      }),
    );
    const body = await waitFor(`http://127.0.0.1:${port}/?format=json`, (b) => b.includes('10.244.1.5'));
    const vip = (
      JSON.parse(body) as {
        vips: Array<{ ip: string; backends: Array<{ ip: string; port: number; sources: string[]; node: string | null }> }>;
      }
    ).vips.find((v) => v.ip === '198.51.100.77')!;
    expect(vip.backends.map((b) => [b.ip, b.port, b.sources, b.node])).toEqual([['10.244.1.5', 8443, ['endpointslice'], 'node-b']]);
    const report = await (await fetch(`http://127.0.0.1:${port}/`)).text();
    expect(report).toMatch(/backend 10\.244\.1\.5:8443 \(endpointslice, node node-b\)/);
  },
);

it(
  'auto on a plain host (no service account, no kubeconfig) does not use Kubernetes, and exports no Kubernetes gauge',
  { timeout: 60_000 },
  async () => {
    const home = tempDir('home');
    const logs: string[] = [];
    const env: Record<string, string> = { ASYMROUTE_CONFIG: '', NODE_NAME: 'node-a', HOME: home, PATH: process.env['PATH'] ?? '' };
    agent = execa(
      process.execPath,
      [BIN, 'serve', '--capture=false', '--kubernetes', 'auto', '--listen', '127.0.0.1', '--port', '0', '--vip', '198.51.100.10'],
      { reject: false, stdin: 'ignore', all: true, buffer: false, env, extendEnv: false },
    );
    collectLines(agent.all, logs);
    const t0 = Date.now();
    let port = 0;
    while (!port) {
      const l = logs.find((x) => x.includes('"event":"listening"'));
      if (l) port = (JSON.parse(l) as { port: number }).port;
      else if (Date.now() - t0 > 15_000) throw new Error(`serve did not start: ${logs.join('\n')}`);
      else await new Promise((r) => setTimeout(r, 50));
    }
    expect(logs.join('\n')).toMatch(/"event":"kubernetes-off","reason":"no in-cluster service account or kubeconfig"/);
    const report = await waitFor(`http://127.0.0.1:${port}/`, (b) => b.includes('198.51.100.10'));
    expect(report).toMatch(/Kubernetes: not in use/);
    expect(report).not.toMatch(/UNREACHABLE|localhost:8080/);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/^asymroute_checks_total/m);
    expect(metrics).not.toMatch(/^asymroute_kubernetes_up/m);
  },
);

it('reads which nodes advertise a VIP over BGP, and to which peers, from MetalLB ServiceBGPStatus', { timeout: 60_000 }, async () => {
  const bgpStatus = (node: string, service: string, peers: string[]) => ({
    apiVersion: 'metallb.io/v1beta1',
    kind: 'ServiceBGPStatus',
    metadata: { name: `${service}-${node}`, namespace: 'metallb-system', resourceVersion: '40' },
    spec: {},
    status: { node, serviceName: service, serviceNamespace: 'shop', peers },
  });
  const cart = {
    ...SVC,
    metadata: { ...SVC.metadata, name: 'cart', uid: 'u2' },
    status: { loadBalancer: { ingress: [{ ip: '198.51.100.78', ipMode: 'VIP' }] } },
  };
  const { port } = await start(
    await replayApi({
      '/api/v1/services': { kind: 'ServiceList', apiVersion: 'v1', metadata: { resourceVersion: '10' }, items: [SVC, cart] },
      '/apis/metallb.io/v1beta1/servicebgpstatuses': {
        kind: 'ServiceBGPStatusList',
        apiVersion: 'metallb.io/v1beta1',
        metadata: { resourceVersion: '41' },
        items: [
          bgpStatus('node-a', 'web', ['tor-b', 'tor-a']),
          bgpStatus('node-b', 'web', ['tor-a']),
          bgpStatus('node-b', 'cart', ['tor-a']),
        ],
      },
    }),
  );
  const body = await waitFor(`http://127.0.0.1:${port}/v1/vips`, (b) => b.includes('tor-b'));
  const vips = (JSON.parse(body) as { vips: Array<{ ip: string; bgp: unknown }> }).vips;
  expect(vips.find((v) => v.ip === '198.51.100.77')!.bgp).toEqual({ nodes: ['node-a', 'node-b'], here: true, peers: ['tor-a', 'tor-b'] });
  expect(vips.find((v) => v.ip === '198.51.100.78')!.bgp).toEqual({ nodes: ['node-b'], here: false, peers: [] });
  expect(vips.find((v) => v.ip === '198.51.100.10')!.bgp).toBeNull();
  const report = await (await fetch(`http://127.0.0.1:${port}/`)).text();
  expect(report).toMatch(/MetalLB BGP: advertised by this node to BGPPeer tor-a, tor-b \(advertising nodes: node-a, node-b\)/);
  expect(report).toMatch(/MetalLB BGP: advertised by node-b, not this node/);
  expect(report).toMatch(/MetalLB ServiceBGPStatus: 3 objects/);
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  expect(metrics).toMatch(/asymroute_vip_announced\{vip="198\.51\.100\.77",mode="bgp"\} 1/);
  expect(metrics).toMatch(/asymroute_vip_announced\{vip="198\.51\.100\.78",mode="bgp"\} 0/);
});

it(
  'follows BGPPeers added, modified and deleted after the first list, and node labels re-read on a BGPPeer change',
  { timeout: 90_000 },
  async () => {
    const PEERS = '/apis/metallb.io/v1beta2/bgppeers';
    const NODE = '/api/v1/nodes/node-a';
    const bgpPeer = (name: string, rv: string, peerAddress: string, nodeSelectors?: unknown[]) => ({
      apiVersion: 'metallb.io/v1beta2',
      kind: 'BGPPeer',
      metadata: { name, namespace: 'metallb-system', uid: `uid-${name}`, resourceVersion: rv },
      spec: { myASN: 64512, peerASN: 64500, peerAddress, ...(nodeSelectors ? { nodeSelectors } : {}) },
    });
    const node = (rack: string) => ({ kind: 'Node', apiVersion: 'v1', metadata: { name: 'node-a', labels: { rack } } });
    const kube = await startKubeApi({
      lists: {
        ...SERVICES,
        [PEERS]: {
          kind: 'BGPPeerList',
          apiVersion: 'metallb.io/v1beta2',
          metadata: { resourceVersion: '31' },
          items: [bgpPeer('tor-a', '30', '198.51.100.254', [{ matchLabels: { rack: 'a' } }])],
        },
        [NODE]: node('a'),
      },
    });
    const { port } = await start(kube.kubeconfig);
    // The peers this node is expected to have, as /v1/bgp reports them.
    const expected = async () =>
      (
        JSON.parse(await (await fetch(`http://127.0.0.1:${port}/v1/bgp`)).text()) as {
          peers: Array<{ peer: string; expected: boolean; expectedBy: string | null }>;
        }
      ).peers
        .filter((p) => p.expected)
        .map((p) => `${p.peer} ${p.expectedBy}`)
        .sort();
    const expectPeers = (want: string[], what: string) =>
      until(async () => JSON.stringify(await expected()) === JSON.stringify(want), what, 20_000);
    await expectPeers(['198.51.100.254 MetalLB BGPPeer metallb-system/tor-a'], 'the listed BGPPeer');
    await until(() => kube.emit(PEERS, 'ADDED', bgpPeer('tor-c', '32', '198.51.100.252')) === 1, 'the BGPPeer watch', 20_000);
    await expectPeers(
      ['198.51.100.252 MetalLB BGPPeer metallb-system/tor-c', '198.51.100.254 MetalLB BGPPeer metallb-system/tor-a'],
      'the added BGPPeer',
    );
    kube.emit(PEERS, 'MODIFIED', bgpPeer('tor-c', '33', '198.51.100.251'));
    await expectPeers(
      ['198.51.100.251 MetalLB BGPPeer metallb-system/tor-c', '198.51.100.254 MetalLB BGPPeer metallb-system/tor-a'],
      'the modified BGPPeer',
    );
    kube.emit(PEERS, 'DELETED', bgpPeer('tor-c', '34', '198.51.100.251'));
    await expectPeers(['198.51.100.254 MetalLB BGPPeer metallb-system/tor-a'], 'the deleted BGPPeer');
    // The node moves to rack b; a BGPPeer for rack b arrives: the labels are read again, and only rack b's router is expected.
    const nodeReads = () => kube.requests.filter((r) => r.path === NODE).length;
    const readsBefore = nodeReads();
    kube.lists[NODE] = node('b');
    kube.emit(PEERS, 'ADDED', bgpPeer('tor-b', '35', '198.51.100.253', [{ matchLabels: { rack: 'b' } }]));
    await expectPeers(['198.51.100.253 MetalLB BGPPeer metallb-system/tor-b'], 'the node in rack b');
    expect(nodeReads()).toBeGreaterThan(readsBefore);
  },
);
