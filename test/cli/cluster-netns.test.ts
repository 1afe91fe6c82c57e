// `asymroute cluster` end to end: real agents in namespaces (one node with the incident, one fixed), a node without
// an agent and an agent nobody can reach, all behind the local Kubernetes API's pod proxy. The user's rights and the
// reader service account's are the chart's own Role and ClusterRoles, rendered.

import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterEach, expect, it } from 'vitest';
import { buildIncidentLab, fixByPolicyRouting, type IncidentLab } from '../../agent/netns/incident-lab.js';
import { startTcpServer, tcpConnect, type TcpServer } from '../../agent/netns/netns.js';
import { runCli, serveInNetns, collectLines, ROOT } from '../helpers/cli.js';
import { renderChart } from '../helpers/helm.js';
import { kubeconfigFile, startKubeApi, type KubeApi, type PolicyRule } from '../helpers/kube-api.js';
import { bridgeFromSocket, bridgeToSocket } from '../helpers/netns-bridge.js';
import { describeAsRoot } from '../helpers/root.js';
import { tempDir } from '../helpers/tmp.js';
import { untilValue } from '../helpers/netns-http.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = Record<string, any>;

const NS = 'asymroute';
const READER = 'asymroute-reader';
const LABELS = { 'app.kubernetes.io/name': 'asymroute', 'app.kubernetes.io/instance': 'asymroute' };

function pod(name: string, node: string, ip: string, annotations: Record<string, string>, labels: Record<string, string> = LABELS) {
  return {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: { name, namespace: NS, labels, annotations },
    spec: {
      nodeName: node,
      hostNetwork: true,
      containers: [{ name: 'agent', ports: [{ name: 'http', containerPort: 9472, protocol: 'TCP' }] }],
    },
    status: { phase: 'Running', podIP: ip, conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

const list = (kind: string, items: unknown[]) => ({ kind, apiVersion: 'v1', metadata: { resourceVersion: '10' }, items });

/** The rules the chart grants: the cluster viewer (Role + nodes ClusterRole) and the reader service account. */
function chartRules(): { viewer: PolicyRule[]; reader: PolicyRule[] } {
  const r = renderChart({}, { release: 'asymroute', namespace: NS });
  const rules = (kind: string, name: string) =>
    (r.objects.find((o) => o.kind === kind && o.metadata.name === name) as Any).rules as PolicyRule[];
  return {
    viewer: [...rules('Role', 'asymroute-cluster-viewer'), ...rules('ClusterRole', 'asymroute-cluster-viewer-nodes')],
    reader: rules('ClusterRole', 'asymroute-report-reader'),
  };
}

interface Cell {
  node: string;
  state: string;
  announces: string[] | null;
  ingress: string | null;
  static: string | null;
  live: string | null;
  findings: Array<{ type: string }>;
}
interface View {
  schema: string;
  exitCode: number;
  notes: string[];
  nodes: Array<{ node: string; state: string; detail: string | null; summary: Record<string, number> | null }>;
  vips: Array<{ ip: string; service: string | null; nodes: Cell[] }>;
}

describeAsRoot('asymroute cluster through the pod proxy', () => {
  const labs: IncidentLab[] = [];
  const procs: ResultPromise[] = [];
  const servers: TcpServer[] = [];
  afterEach(async () => {
    for (const p of procs) p.kill('SIGKILL');
    await Promise.allSettled(procs);
    await Promise.allSettled(servers.map((s) => s.stop()));
    for (const l of labs) await l.lab.destroy();
    labs.length = 0;
    procs.length = 0;
    servers.length = 0;
  });

  it(
    'one table for four nodes: the asymmetric one, the healthy one, one without an agent, one whose agent is unreachable',
    { timeout: 180_000 },
    async () => {
      const dir = tempDir('cluster');
      const socket = join(dir, 'api.sock');
      const { viewer, reader } = chartRules();
      const a = await buildIncidentLab('arcla');
      labs.push(a);
      const b = await buildIncidentLab('arclb');
      labs.push(b);
      await fixByPolicyRouting(b);
      const reach = { a: join(dir, 'a.sock'), b: join(dir, 'b.sock') };
      const api: KubeApi = await startKubeApi({
        socket,
        lists: {
          '/api/v1/nodes': list(
            'NodeList',
            ['node-a', 'node-b', 'node-c', 'node-d'].map((n) => ({ metadata: { name: n } })),
          ),
          '/api/v1/pods': list('PodList', [
            pod('asymroute-aaaaa', 'node-a', '10.0.0.1', { 'asymroute.io/scheme': 'https', 'asymroute.io/reader-service-account': READER }),
            // No scheme annotation (a chart older than the command): HTTPS is tried first, then HTTP.
            pod('asymroute-bbbbb', 'node-b', '10.0.0.2', { 'asymroute.io/reader-service-account': READER }),
            pod('asymroute-ddddd', 'node-d', '10.0.0.4', { 'asymroute.io/scheme': 'http', 'asymroute.io/reader-service-account': READER }),
            pod('web-12345', 'node-c', '10.0.0.3', {}, { app: 'web' }),
          ]),
          '/api/v1/services': list('ServiceList', [
            {
              kind: 'Service',
              apiVersion: 'v1',
              metadata: { name: 'web', namespace: 'shop', uid: 'u1', resourceVersion: '7' },
              spec: { type: 'LoadBalancer', ports: [{ port: 8443, protocol: 'TCP' }] },
              status: { loadBalancer: { ingress: [{ ip: a.vip, ipMode: 'VIP' }] } },
            },
          ]),
          '/apis/metallb.io/v1beta1/servicel2statuses': list('ServiceL2StatusList', [
            {
              apiVersion: 'metallb.io/v1beta1',
              kind: 'ServiceL2Status',
              metadata: { name: 'l2-web', namespace: 'metallb-system', resourceVersion: '20' },
              spec: {},
              status: { node: 'node-a', serviceName: 'web', serviceNamespace: 'shop', interfaces: [{ name: 'eth1' }] },
            },
          ]),
        },
      });
      api.podDial.set('10.0.0.1:9472', reach.a);
      api.podDial.set('10.0.0.2:9472', reach.b);
      api.serviceAccounts.add(`${NS}/${READER}`);
      api.rules.set(`system:serviceaccount:${NS}:${READER}`, reader);
      api.tokens.set('alice-token', { username: 'alice', uid: 'u-alice', groups: ['netops', 'system:authenticated'] });
      api.rules.set('alice', viewer);
      api.tokens.set('bob-token', { username: 'bob', uid: 'u-bob', groups: ['system:authenticated'] });
      api.rules.set(
        'bob',
        viewer.filter((r) => !('resources' in r) || !r.resources.includes('serviceaccounts/token')),
      );

      for (const [l, node, sock, extra] of [
        [a, 'node-a', reach.a, ['--tls', 'on']],
        [b, 'node-b', reach.b, []],
      ] as const) {
        const toApi = await bridgeToSocket(l.node.name, socket);
        procs.push(toApi.proc);
        const agent = serveInNetns(
          l.node.name,
          [
            '--client',
            l.clientCidr,
            '--kubernetes',
            'on',
            '--kubeconfig',
            kubeconfigFile(`http://127.0.0.1:${toApi.port}`),
            '--auth',
            'kubernetes',
            ...extra,
          ],
          { reject: false, stdin: 'ignore', all: true, buffer: false, env: { ASYMROUTE_CONFIG: '', NODE_NAME: node } },
        );
        procs.push(agent);
        collectLines(agent.all);
        procs.push((await bridgeFromSocket(l.node.name, sock, 9472)).proc);
        servers.push(await startTcpServer(l.node, l.vip, 8443));
      }

      const alice = kubeconfigFile(api.url, 'alice-token');
      const cluster = async (args: string[], kubeconfig = alice) => runCli(['cluster', '--kubeconfig', kubeconfig, ...args]);
      const json = async (kubeconfig = alice) => {
        const r = await cluster(['-o', 'json'], kubeconfig);
        return { exitCode: r.exitCode, view: JSON.parse(r.stdout || '{}') as View, stderr: r.stderr };
      };
      const cell = (v: View, node: string) => v.vips.find((x) => x.ip === a.vip)?.nodes.find((c) => c.node === node);

      // What the verdicts must predict: the incident node's client cannot connect, the fixed node's can.
      await untilValue(
        'both agents answering with their first check',
        async () => {
          const { view } = await json();
          return cell(view, 'node-a')?.static === 'asymmetric' && cell(view, 'node-b')?.static === 'ok';
        },
        60_000,
      );
      for (let i = 0; i < 3; i++) {
        expect((await tcpConnect(a.client, a.vip, 8443, 1500)).ok, 'the incident node fails its clients').toBe(false);
        expect((await tcpConnect(b.client, b.vip, 8443, 1500)).ok, 'the fixed node serves its clients').toBe(true);
      }
      const { exitCode, view } = await untilValue(
        'the live flows',
        async () => {
          const r = await json();
          return cell(r.view, 'node-a')?.live === 'asymmetric' && cell(r.view, 'node-b')?.live === 'ok' ? r : null;
        },
        30_000,
      );

      expect(view.schema).toBe('asymroute.cluster/v1');
      expect(exitCode).toBe(1);
      expect(Object.fromEntries(view.nodes.map((n) => [n.node, n.state]))).toEqual({
        'node-a': 'answered',
        'node-b': 'answered',
        'node-c': 'no-agent',
        'node-d': 'no-answer',
      });
      expect(view.nodes.find((n) => n.node === 'node-d')!.detail).toMatch(/error trying to reach service: dial tcp 10\.0\.0\.4:9472/);
      expect(view.nodes.find((n) => n.node === 'node-b')!.summary).toMatchObject({ critical: 0, warning: 0 });
      expect(view.vips.map((v) => [v.ip, v.service])).toEqual([[a.vip, 'shop/web']]);
      expect(cell(view, 'node-a')).toMatchObject({
        state: 'answered',
        announces: ['MetalLB L2'],
        ingress: 'eth1',
        static: 'asymmetric',
        live: 'asymmetric',
      });
      expect(cell(view, 'node-a')!.findings.map((f) => f.type)).toContain('asymmetric-reply-path');
      expect(cell(view, 'node-b')).toMatchObject({
        state: 'answered',
        announces: [],
        ingress: 'eth1',
        static: 'ok',
        live: 'ok',
        findings: [],
      });
      expect(cell(view, 'node-c')).toMatchObject({ state: 'no-agent', static: null });
      expect(cell(view, 'node-d')).toMatchObject({ state: 'no-answer', static: null });

      // The agents checked the reader's short-lived token, never the user's.
      const reviewed = api.requests
        .filter((r) => r.path === '/apis/authentication.k8s.io/v1/tokenreviews')
        .map((r) => (r.body as { spec: { token: string } }).spec.token);
      expect(reviewed.length).toBeGreaterThan(0);
      expect(new Set(reviewed.map((t) => t.replace(/-\d+$/, '')))).toEqual(new Set([`sa-${NS}-${READER}`]));
      expect(api.requests.some((r) => r.path.includes('/proxy/') && r.authorization !== 'Bearer alice-token')).toBe(false);

      const table = await cluster([]);
      expect(table.exitCode).toBe(1);
      console.log(`[cluster] the table from the four-node test:\n${table.stdout}`);
      expect(table.stdout).toMatch(/^asymroute cluster: 4 nodes, 2 answered, 1 did not, 1 without an agent; [1-9]\d* critical/);
      expect(table.stdout).toMatch(/^VIP +SERVICE +NODE +ANNOUNCES +INGRESS +STATIC +LIVE +FINDINGS$/m);
      expect(table.stdout).toMatch(
        /^192\.168\.1\.240 +shop\/web +node-a +MetalLB L2 +eth1 +ASYMMETRIC +ASYMMETRIC \(\d+\) +.*asymmetric-reply-path/m,
      );
      expect(table.stdout).toMatch(/^192\.168\.1\.240 +shop\/web +node-b +no +eth1 +ok +ok \(\d+\) +-$/m);
      expect(table.stdout).toMatch(/^192\.168\.1\.240 +shop\/web +node-c +no agent$/m);
      expect(table.stdout).toMatch(/^node-d +asymroute\/asymroute-ddddd +agent did not answer +error trying to reach service/m);

      // The kubectl plugin is the same command: kubectl finds kubectl-asymroute on PATH and runs it.
      const plugins = tempDir('plugin');
      symlinkSync(`${ROOT}bin/kubectl-asymroute.js`, join(plugins, 'kubectl-asymroute'));
      const viaKubectl = await execa('kubectl', ['asymroute', '-o', 'json', '--kubeconfig', alice], {
        reject: false,
        env: { PATH: `${plugins}:${process.env['PATH']}` },
      });
      expect(viaKubectl.exitCode).toBe(1);
      expect((JSON.parse(viaKubectl.stdout) as View).nodes.map((n) => n.state).sort()).toEqual([
        'answered',
        'answered',
        'no-agent',
        'no-answer',
      ]);

      // A user who may not ask for the reader's token: the agents refuse, and the command says why.
      const bob = await json(kubeconfigFile(api.url, 'bob-token'));
      expect(bob.exitCode).toBe(1);
      expect(bob.view.nodes.find((n) => n.node === 'node-a')).toMatchObject({ state: 'unauthorized' });
      expect(bob.view.nodes.find((n) => n.node === 'node-a')!.detail).toMatch(
        /TokenRequest for service account asymroute\/asymroute-reader: 403/,
      );
      expect(bob.view.notes.join('\n')).toMatch(/cannot create resource "serviceaccounts\/token"/);
    },
  );

  it('exits 2 and says why when there is nothing to ask: the API unreachable, no agent pods, pods not listable', async () => {
    const dir = tempDir('cluster2');
    const api = await startKubeApi({
      socket: join(dir, 'api.sock'),
      lists: { '/api/v1/pods': list('PodList', [pod('web-1', 'n', '10.0.0.9', {}, { app: 'web' })]) },
    });
    api.tokens.set('carol-token', { username: 'carol', uid: 'u-carol', groups: [] });
    api.rules.set('carol', [{ apiGroups: [''], resources: ['pods'], verbs: ['list'] }]);
    const none = await runCli(['cluster', '--kubeconfig', kubeconfigFile(api.url, 'carol-token')]);
    expect([none.exitCode, none.stderr]).toEqual([
      2,
      expect.stringMatching(/no agent pods match app\.kubernetes\.io\/name=asymroute in any namespace: is the chart installed\?/),
    ]);
    api.rules.set('carol', []);
    const refused = await runCli(['cluster', '--kubeconfig', kubeconfigFile(api.url, 'carol-token'), '-n', 'asymroute']);
    expect([refused.exitCode, refused.stderr]).toEqual([
      2,
      expect.stringMatching(
        /cannot list the agent pods: GET \/api\/v1\/namespaces\/asymroute\/pods\?labelSelector=.*: 403 pods is forbidden/,
      ),
    ]);
    await api.close();
    const gone = await runCli(['cluster', '--kubeconfig', kubeconfigFile(api.url, 'carol-token'), '--timeout', '2']);
    expect([gone.exitCode, gone.stderr]).toEqual([
      2,
      expect.stringMatching(/cannot reach the Kubernetes API at http:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/),
    ]);
  });
});
