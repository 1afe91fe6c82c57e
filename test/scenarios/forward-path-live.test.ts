// Where the static model cannot see: a rule that selects on the reply's port (which `ip route get` cannot carry)
// makes the verdict unknown, and the client really fails; a tc redirect the model does not read makes live flows
// asymmetric while every static path is fine, and the live finding says the model misses that path.

import type { ResultPromise } from 'execa';
import { afterEach, expect, it } from 'vitest';
import { buildIncidentLab, fixByDefaultRoute, type IncidentLab } from '../../agent/netns/incident-lab.js';
import { startTcpServer, tcpConnect, type TcpServer } from '../../agent/netns/netns.js';
import { checkJson, findingTypes, serveInNetns } from '../helpers/cli.js';
import { nsGet, untilValue } from '../helpers/netns-http.js';
import { describeAsRoot } from '../helpers/root.js';

const PORT = 8443;

describeAsRoot('paths the static model cannot see', () => {
  let lab: IncidentLab | null = null;
  let server: TcpServer | null = null;
  let agent: ResultPromise | null = null;
  afterEach(async () => {
    agent?.kill('SIGTERM');
    await agent;
    agent = null;
    await server?.stop();
    server = null;
    await lab?.lab.destroy();
    lab = null;
  });

  it(
    "a rule on the reply's source port sends it to eth0: check says unknown, not ok, and the client fails",
    { timeout: 60_000 },
    async () => {
      const l = (lab = await buildIncidentLab('arlive'));
      await fixByDefaultRoute(l);
      await l.node.ip(['rule', 'add', 'from', l.vip, 'ipproto', 'tcp', 'sport', String(PORT), 'lookup', '200', 'priority', '100']);
      await l.node.ip(['route', 'add', 'default', 'via', l.mgmtGateway, 'dev', 'eth0', 'table', '200']);
      server = await startTcpServer(l.node, l.vip, PORT);
      const r = await checkJson(['--vip', l.vip, '--client', l.clientCidr], l.node);
      expect(findingTypes(r.report)).toContain('reply-path-unknown');
      expect(r.exitCode).toBe(1);
      const p = r.report.vips[0]!.paths.find((x) => x.clientKind === 'client-cidr')!;
      expect(p.verdict).toBe('unknown');
      expect(p.reason).toMatch(/^rule 100 uses selectors the model does not evaluate \([^)]*sport[^)]*\)/);
      expect((await tcpConnect(l.client, l.vip, PORT, 1500)).ok).toBe(false);
    },
  );

  it(
    'a tc redirect on eth1: static paths fine, live flows asymmetric, and the live finding says the model misses it',
    { timeout: 90_000 },
    async () => {
      const l = (lab = await buildIncidentLab('arlive'));
      await fixByDefaultRoute(l);
      server = await startTcpServer(l.node, l.vip, PORT);
      expect((await checkJson(['--vip', l.vip, '--client', l.clientCidr], l.node)).exitCode).toBe(0);
      // Replies from the VIP about to leave eth1 are stolen and sent out of eth0 (u32 and mirred: no eBPF involved).
      await l.node.exec(['tc', 'qdisc', 'add', 'dev', 'eth1', 'clsact']);
      await l.node.exec([
        'tc',
        'filter',
        'add',
        'dev',
        'eth1',
        'egress',
        'protocol',
        'ip',
        'u32',
        'match',
        'ip',
        'src',
        `${l.vip}/32`,
        'action',
        'mirred',
        'egress',
        'redirect',
        'dev',
        'eth0',
      ]);
      agent = serveInNetns(
        l.node.name,
        ['--vip', l.vip, '--client', l.clientCidr, '--interval', '300', '--kubernetes', 'off', '--bgp', 'off'],
        { reject: false, stdin: 'ignore', buffer: false, env: { ASYMROUTE_CONFIG: '' } },
      );
      await untilValue('readyz', async () => (await nsGet(l.node, '/readyz')).status === 200);
      await untilValue('capture up', async () => /^asymroute_capture_up 1/m.test((await nsGet(l.node, '/metrics')).body));
      for (let i = 0; i < 2; i++) expect((await tcpConnect(l.client, l.vip, PORT, 1500)).ok).toBe(false);
      const f = await untilValue('the live finding', async () => {
        const body = JSON.parse((await nsGet(l.node, '/v1/findings')).body) as {
          findings: Array<{ type: string; summary: string; evidence: string[]; remediation: Array<{ commands: string[] }> }>;
        };
        return body.findings.find((x) => x.type === 'asymmetric-flows-observed') ?? null;
      });
      expect(f.summary).toMatch(/flows arrived on eth1 and their replies left on eth0.*the static model misses this path/);
      expect(f.evidence.join('\n')).toMatch(
        /static: ip route get 203\.0\.113\.1 from 192\.168\.1\.240 -> via 192\.168\.1\.254 dev eth1 \(symmetric\)/,
      );
      expect(f.remediation[0]!.commands).toContain(`conntrack -L -d ${l.vip}`);
      const all = JSON.parse((await nsGet(l.node, '/v1/findings')).body) as { findings: Array<{ type: string }> };
      expect(all.findings.map((x) => x.type)).not.toContain('asymmetric-reply-path');
    },
  );
});
