// Nodes laid out like k3s (flannel), Calico (VXLAN) and Cilium, with no VIP configured: the CNI's own /32s are not
// VIPs, so `check` is clean; on a Cilium node a configured VIP is never "ok" (its eBPF datapath is not modelled);
// and `serve` with a Kubernetes API that lists no external VIP reports none, with no finding.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterEach, expect, it } from 'vitest';
import { NetnsLab, type Netns } from '../../agent/netns/netns.js';
import { checkJson, serveInNetns } from '../helpers/cli.js';
import { nsGet, untilValue } from '../helpers/netns-http.js';
import { describeAsRoot } from '../helpers/root.js';

type Layout = 'k3s' | 'calico' | 'cilium';

async function buildNode(lab: NetnsLab, layout: Layout): Promise<Netns> {
  const mgmt = await lab.add('mgmt');
  const node = await lab.add('node');
  const pod = await lab.add('pod');
  await lab.link(mgmt, 'to-node', node, 'eth0');
  await mgmt.ip(['addr', 'add', '192.168.121.1/24', 'dev', 'to-node']);
  await node.ip(['addr', 'add', '192.168.121.10/24', 'dev', 'eth0']);
  await node.ip(['route', 'add', 'default', 'via', '192.168.121.1', 'dev', 'eth0']);
  const ip = (args: string[]) => node.ip(args);
  if (layout === 'k3s') {
    await ip([
      'link',
      'add',
      'flannel.1',
      'type',
      'vxlan',
      'id',
      '1',
      'dev',
      'eth0',
      'dstport',
      '8472',
      'local',
      '192.168.121.10',
      'nolearning',
    ]);
    await ip(['addr', 'add', '10.42.0.0/32', 'dev', 'flannel.1']);
    await ip(['link', 'set', 'flannel.1', 'up']);
    await ip(['link', 'add', 'cni0', 'type', 'bridge']);
    await ip(['addr', 'add', '10.42.0.1/24', 'dev', 'cni0']);
    await ip(['link', 'set', 'cni0', 'up']);
    await lab.link(node, 'veth1a2b3c4d', pod, 'eth0');
    await ip(['link', 'set', 'veth1a2b3c4d', 'master', 'cni0']);
    await pod.ip(['addr', 'add', '10.42.0.5/24', 'dev', 'eth0']);
    await ip(['route', 'add', '10.42.1.0/24', 'via', '10.42.1.0', 'dev', 'flannel.1', 'onlink']);
  } else if (layout === 'calico') {
    await ip(['link', 'add', 'vxlan.calico', 'type', 'vxlan', 'id', '4096', 'dev', 'eth0', 'dstport', '4789']);
    await ip(['addr', 'add', '10.244.120.64/32', 'dev', 'vxlan.calico']);
    await ip(['link', 'set', 'vxlan.calico', 'up']);
    await lab.link(node, 'cali1234abcd5', pod, 'eth0');
    await pod.ip(['addr', 'add', '10.244.120.70/32', 'dev', 'eth0']);
    await ip(['route', 'add', '10.244.120.70', 'dev', 'cali1234abcd5', 'scope', 'link']);
    await ip(['route', 'add', 'blackhole', '10.244.120.64/26']);
    await ip(['route', 'add', '10.244.130.0/26', 'via', '10.244.130.0', 'dev', 'vxlan.calico', 'onlink']);
  } else {
    await ip(['link', 'add', 'cilium_host', 'type', 'veth', 'peer', 'name', 'cilium_net']);
    await ip(['link', 'set', 'cilium_host', 'up']);
    await ip(['link', 'set', 'cilium_net', 'up']);
    await ip(['addr', 'add', '10.0.0.148/32', 'dev', 'cilium_host']);
    await ip(['route', 'add', '10.0.0.0/24', 'via', '10.0.0.148', 'dev', 'cilium_host', 'src', '10.0.0.148']);
    await lab.link(node, 'lxc0a1b2c3d', pod, 'eth0');
    await pod.ip(['addr', 'add', '10.0.0.77/32', 'dev', 'eth0']);
  }
  return node;
}

// Inside the node namespace, a loopback TCP port that leads to a Unix socket where the test's replay API listens.
const PROXY_JS = `const net = require('net'); const s = net.createServer((c) => { const u = net.connect(process.argv[1]); c.pipe(u); u.pipe(c); c.on('error', () => u.destroy()); u.on('error', () => c.destroy()); }); s.listen(0, '127.0.0.1', () => console.log(s.address().port));`;

describeAsRoot('CNI-like nodes: no false VIPs, never a false all clear', () => {
  let lab: NetnsLab | null = null;
  let procs: ResultPromise[] = [];
  let api: Server | null = null;
  let dir: string | null = null;
  afterEach(async () => {
    for (const p of procs) p.kill('SIGKILL');
    await Promise.allSettled(procs);
    procs = [];
    api?.closeAllConnections();
    await new Promise((r) => api?.close(r) ?? r(undefined));
    api = null;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = null;
    await lab?.destroy();
    lab = null;
  });

  const SKIPPED: Record<Layout, RegExp> = {
    k3s: /skipped 10\.42\.0\.0 on flannel\.1 \(flannel\)/,
    calico: /skipped 10\.244\.120\.64 on vxlan\.calico \(Calico VXLAN\)/,
    cilium: /skipped 10\.0\.0\.148 on cilium_host \(Cilium\)/,
  };

  for (const layout of ['k3s', 'calico', 'cilium'] as const) {
    it(`${layout}-like node, no VIP configured: a clean check that names what it skipped`, async () => {
      lab = new NetnsLab('arcni');
      const node = await buildNode(lab, layout);
      const r = await checkJson([], node);
      expect(r.report.vips).toEqual([]);
      expect(r.report.findings).toEqual([]);
      expect(r.exitCode).toBe(0);
      expect(r.report.vipSource).toMatch(SKIPPED[layout]);
    });
  }

  it('cilium-like node with a VIP whose route looks symmetric: unknown, never ok', async () => {
    lab = new NetnsLab('arcni');
    const node = await buildNode(lab, 'cilium');
    const router = await lab.add('router');
    await lab.link(router, 'lan', node, 'eth1');
    await router.ip(['addr', 'add', '192.168.1.254/24', 'dev', 'lan']);
    await node.ip(['addr', 'add', '192.168.1.10/24', 'dev', 'eth1']);
    await node.ip(['addr', 'add', '192.168.1.240/32', 'dev', 'eth1']);
    await node.ip(['route', 'replace', 'default', 'via', '192.168.1.254', 'dev', 'eth1']);
    const r = await checkJson(['--vip', '192.168.1.240', '--client', '203.0.113.0/24'], node);
    expect(r.report.findings.map((f) => f.type)).toEqual(['reply-path-unknown']);
    expect(r.exitCode).toBe(1);
    expect(r.report.vips[0]!.blind[0]).toMatch(/^Cilium \(cilium_host\)/);
    expect(
      r.report.vips[0]!.paths.filter((p) => p.clientKind !== 'gateway').every((p) => p.verdict === 'unknown' && p.egress[0] === 'eth1'),
    ).toBe(true);
  });

  it('k3s-like node, serve with a Kubernetes API that lists no external VIP: none reported, no finding', { timeout: 60_000 }, async () => {
    lab = new NetnsLab('arcni');
    const node = await buildNode(lab, 'k3s');
    dir = mkdtempSync(join(tmpdir(), 'asymroute-cni-'));
    const sock = join(dir, 'api.sock');
    const clusterIp = {
      kind: 'Service',
      apiVersion: 'v1',
      metadata: { name: 'kubernetes', namespace: 'default', uid: 'u0', resourceVersion: '5' },
      spec: { type: 'ClusterIP', clusterIP: '10.43.0.1', ports: [{ port: 443, protocol: 'TCP' }] },
      status: { loadBalancer: {} },
    };
    const requested: string[] = [];
    api = createServer((req, res) => {
      const url = new URL(req.url!, 'http://x');
      requested.push(url.pathname);
      res.setHeader('content-type', 'application/json');
      if (url.pathname !== '/api/v1/services')
        return void res
          .writeHead(404)
          .end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 }));
      if (url.searchParams.get('watch') === 'true') return void res.writeHead(200);
      res.end(JSON.stringify({ kind: 'ServiceList', apiVersion: 'v1', metadata: { resourceVersion: '10' }, items: [clusterIp] }));
    });
    await new Promise<void>((r) => api!.listen(sock, r));
    const proxy = execa('ip', ['netns', 'exec', node.name, process.execPath, '-e', PROXY_JS, sock], {
      reject: false,
      stdin: 'ignore',
      buffer: false,
    });
    procs.push(proxy);
    const apiPort = await new Promise<number>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('the proxy did not start')), 10_000);
      proxy.stdout?.once('data', (d: Buffer) => {
        clearTimeout(t);
        resolve(Number(String(d).trim()));
      });
    });
    const kubeconfig = join(dir, 'config');
    writeFileSync(
      kubeconfig,
      `apiVersion: v1\nkind: Config\nclusters:\n- name: replay\n  cluster:\n    server: http://127.0.0.1:${apiPort}\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: c\n  context:\n    cluster: replay\n    user: u\ncurrent-context: c\n`,
    );
    const agent = serveInNetns(
      node.name,
      ['--capture=false', '--kubernetes', 'on', '--kubeconfig', kubeconfig, '--auth', 'none', '--bgp', 'off'],
      {
        reject: false,
        stdin: 'ignore',
        all: true,
        buffer: false,
        env: { ASYMROUTE_CONFIG: '', NODE_NAME: 'node-a' },
      },
    );
    procs.push(agent);
    await untilValue('readyz', async () => (await nsGet(node, '/readyz')).status === 200);
    await untilValue('the Service list', async () => requested.includes('/api/v1/services'));
    const report = JSON.parse(
      (
        await untilValue('a report that has read Kubernetes', async () => {
          const r = await nsGet(node, '/', 'application/json');
          return JSON.parse(r.body).kubernetes?.connected === true ? r : null;
        })
      ).body,
    );
    expect(report.vips).toEqual([]);
    expect(report.findings).toEqual([]);
    expect(report.vipSource).toMatch(/^from Kubernetes Services .*never auto-detected$/);
    const text = (await nsGet(node, '/')).body;
    expect(text).toMatch(/No VIPs to check/);
    expect(text).not.toMatch(/10\.42\.0\.0/);
  });
});
