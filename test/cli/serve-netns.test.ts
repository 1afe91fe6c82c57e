// `asymroute serve` end to end in the node namespace: HTTP read from inside the namespace, real client connections,
// the route broken and fixed while the agent runs, promtool on a live scrape, and a clean SIGTERM.

import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterEach, expect, it } from 'vitest';
import { buildIncidentLab, fixByPolicyRouting, type IncidentLab } from '../../agent/netns/incident-lab.js';
import { NetnsLab, startTcpServer, tcpConnect, type Netns, type TcpServer } from '../../agent/netns/netns.js';
import { serveInNetns, collectLines } from '../helpers/cli.js';
import { bridgeToSocket } from '../helpers/netns-bridge.js';
import { AGENT_PORT, nsGet, untilValue } from '../helpers/netns-http.js';
import { describeAsRoot } from '../helpers/root.js';

// The agent's direct children with their command lines (setpriv execs tcpdump in place: same pid, tcpdump's argv).
function agentChildren(pid: number): Array<{ pid: number; argv: string[] }> {
  const out: Array<{ pid: number; argv: string[] }> = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      // The comm field may hold spaces and parentheses: the fields after it start at the last ")".
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== pid) continue;
      const argv = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0').filter(Boolean);
      out.push({ pid: Number(e), argv: [basename(argv[0] ?? ''), ...argv.slice(1)] });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

// Alive and still the same program (a zombie, or a reused pid, is not the child left behind).
function alive(pid: number, argv: string[]): boolean {
  try {
    if (/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'))) return false;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).slice(1).join(' ') === argv.slice(1).join(' ');
  } catch {
    return false;
  }
}

const PORT = AGENT_PORT;
const get = (ns: Netns, path: string, accept = '') => nsGet(ns, path, accept);
const until = untilValue;

// The first bytes of a binary answer, as hex, plus its length.
const GET_BIN_JS = `fetch(process.argv[1]).then(async (r) => { const b = Buffer.from(await r.arrayBuffer()); process.stdout.write(JSON.stringify({ status: r.status, type: r.headers.get('content-type'), head: b.subarray(0, 24).toString('hex'), length: b.length })); });`;

// Inside the node namespace, a TCP port on its loopback that leads to a Unix socket: the replay API runs in the test
// process, and the agent reaches it without any address in the root namespace.

describeAsRoot('asymroute serve in the node namespace', () => {
  let lab: IncidentLab | null = null;
  let agent: ResultPromise | null = null;
  let server: TcpServer | null = null;
  let proxy: ResultPromise | null = null;
  let api: Server | null = null;
  let dir: string | null = null;
  let bare: NetnsLab | null = null;
  afterEach(async () => {
    agent?.kill('SIGKILL');
    proxy?.kill('SIGKILL');
    await Promise.allSettled([agent, proxy]);
    api?.closeAllConnections();
    await new Promise((r) => api?.close(r) ?? r(undefined));
    if (dir) rmSync(dir, { recursive: true, force: true });
    await server?.stop();
    await lab?.lab.destroy();
    await bare?.destroy();
    bare = null;
    lab = null;
    agent = null;
    server = null;
    proxy = null;
    api = null;
    dir = null;
  });

  it(
    'posts a Warning Event on the Service when its reply path turns asymmetric, and a Normal one when it clears',
    { timeout: 90_000 },
    async () => {
      const l = (lab = await buildIncidentLab('arevents'));
      dir = mkdtempSync(join(tmpdir(), 'asymroute-events-'));
      const sock = join(dir, 'api.sock');
      const posted: Array<{ path: string; body: Record<string, unknown> }> = [];
      const svc = {
        kind: 'Service',
        apiVersion: 'v1',
        metadata: { name: 'web', namespace: 'shop', uid: 'u1', resourceVersion: '7' },
        spec: { type: 'LoadBalancer', ports: [{ port: 8443, protocol: 'TCP' }] },
        status: { loadBalancer: { ingress: [{ ip: l.vip, ipMode: 'VIP' }] } },
      };
      api = createServer((req, res) => {
        const url = new URL(req.url!, 'http://x');
        let data = '';
        req.on('data', (d: Buffer) => (data += String(d)));
        req.on('end', () => {
          res.setHeader('content-type', 'application/json');
          if (req.method === 'POST' && url.pathname === '/api/v1/namespaces/shop/events') {
            posted.push({ path: url.pathname, body: JSON.parse(data) as Record<string, unknown> });
            return void res.writeHead(201).end(data);
          }
          if (url.pathname !== '/api/v1/services')
            return void res
              .writeHead(404)
              .end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 }));
          if (url.searchParams.get('watch') === 'true') return void res.writeHead(200);
          res.end(JSON.stringify({ kind: 'ServiceList', apiVersion: 'v1', metadata: { resourceVersion: '10' }, items: [svc] }));
        });
      });
      await new Promise<void>((r) => api!.listen(sock, r));
      const bridge = await bridgeToSocket(l.node.name, sock);
      proxy = bridge.proc;
      const apiPort = bridge.port;
      const kubeconfig = join(dir, 'config');
      writeFileSync(
        kubeconfig,
        `apiVersion: v1\nkind: Config\nclusters:\n- name: replay\n  cluster:\n    server: http://127.0.0.1:${apiPort}\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: c\n  context:\n    cluster: replay\n    user: u\ncurrent-context: c\n`,
      );
      const logs: string[] = [];
      agent = serveInNetns(
        l.node.name,
        [
          '--client',
          l.clientCidr,
          '--interval',
          '300',
          '--capture=false',
          '--kubernetes',
          'on',
          '--kubeconfig',
          kubeconfig,
          '--auth',
          'none',
          '--kubernetes-events',
        ],
        { reject: false, stdin: 'ignore', all: true, buffer: false, env: { ASYMROUTE_CONFIG: '', NODE_NAME: 'node-a' } },
      );
      collectLines(agent.all, logs);

      await until('the Warning Event', async () => posted.length >= 1, 30_000);
      const warn = posted[0]!.body;
      expect(warn).toMatchObject({
        type: 'Warning',
        reason: 'AsymmetricReplyPath',
        involvedObject: { kind: 'Service', namespace: 'shop', name: 'web' },
        source: { component: 'asymroute', host: 'node-a' },
      });
      expect(String(warn['message'])).toMatch(/^on node node-a: .*192\.168\.1\.240.*eth1.*eth0/);

      await fixByPolicyRouting(l);
      await until('the Normal Event', async () => posted.length >= 2, 15_000);
      expect(posted[1]!.body).toMatchObject({ type: 'Normal', reason: 'ReplyPathRestored', involvedObject: { name: 'web' } });
      // The fake API records the POST before the agent has its answer and logs it.
      const postedLogs = () => logs.filter((x) => x.includes('"event":"kubernetes-event-posted"'));
      await until('both Events logged', async () => postedLogs().length >= 2, 10_000);
      expect(postedLogs()).toHaveLength(2);

      // Broken again within the rate-limit window: the state changes, but no third Event for five minutes.
      await l.node.ip(['rule', 'del', 'from', l.vip, 'lookup', '100']);
      await until(
        'the finding to come back',
        async () =>
          JSON.parse((await get(l.node, '/v1/findings')).body).findings.some((x: { type: string }) => x.type === 'asymmetric-reply-path'),
        15_000,
      );
      await until('the rate-limited Event', async () => logs.some((x) => x.includes('"event":"kubernetes-event-rate-limited"')), 15_000);
      expect(posted).toHaveLength(2);
    },
  );

  it('a capture download with no VIP to capture is 409, and one with a VIP is not', { timeout: 60_000 }, async () => {
    bare = new NetnsLab('arnovip');
    const ns = await bare.add('node');
    const logs: string[] = [];
    // No --vip, and nothing VIP-like in a namespace with only lo: the agent has no VIP.
    agent = serveInNetns(ns.name, ['--kubernetes', 'off', '--capture=false', '--pcap-download', '--interval', '300'], {
      reject: false,
      stdin: 'ignore',
      all: true,
      buffer: false,
      env: { ASYMROUTE_CONFIG: '' },
    });
    collectLines(agent.all, logs);
    await until('readyz', async () => (await get(ns, '/readyz')).status === 200);
    expect(JSON.parse((await get(ns, '/', 'application/json')).body).vips).toEqual([]);
    const r = await get(ns, '/v1/capture?seconds=1');
    expect([r.status, JSON.parse(r.body)]).toEqual([409, { error: 'no VIPs to capture yet' }]);
    agent.kill('SIGTERM');
    expect((await agent).exitCode).toBe(0);
    // The same agent with a VIP: the download runs (a pcap, 200).
    await ns.ip(['addr', 'add', '192.0.2.240/32', 'dev', 'lo']);
    agent = serveInNetns(ns.name, ['--kubernetes', 'off', '--capture=false', '--pcap-download', '--vip', '192.0.2.240'], {
      reject: false,
      stdin: 'ignore',
      buffer: false,
      env: { ASYMROUTE_CONFIG: '' },
    });
    await until('readyz', async () => (await get(ns, '/readyz')).status === 200);
    const ok = await get(ns, '/v1/capture?seconds=1');
    expect([ok.status, ok.type]).toEqual([200, 'application/vnd.tcpdump.pcap']);
  });

  it('IPv6: real TCP to the VIP goes through the capture into /v1/flows, by eth1 in and eth0 out', { timeout: 90_000 }, async () => {
    const l = (lab = await buildIncidentLab('arserve6', { ipv6: true }));
    server = await startTcpServer(l.node, l.vip, 8443);
    const logs: string[] = [];
    agent = serveInNetns(
      l.node.name,
      ['--vip', l.vip, '--client', l.clientCidr, '--interval', '300', '--flow-idle', '30', '--kubernetes', 'off'],
      { reject: false, stdin: 'ignore', all: true, buffer: false, env: { ASYMROUTE_CONFIG: '' } },
    );
    collectLines(agent.all, logs);
    await until('capture_up 1', async () => /^asymroute_capture_up 1$/m.test((await get(l.node, '/metrics')).body), 20_000);
    // The incident in IPv6: the SYN-ACKs leave by eth0, so the connections fail.
    for (let i = 0; i < 2; i++) expect((await tcpConnect(l.client, l.vip, 8443, 1500)).ok).toBe(false);
    type Flow = { client: string; vip: string; vport: number; proto: number; ingress: string; egress: string };
    const flows = await until('two asymmetric IPv6 flows', async () => {
      const f = JSON.parse((await get(l.node, `/v1/flows?vip=${l.vip}&outcome=asymmetric`)).body) as { flows: Flow[] };
      return f.flows.length >= 2 ? f.flows : null;
    });
    expect(flows.map((f) => [f.client, f.vip, f.vport, f.proto, f.ingress, f.egress])).toEqual(
      flows.map(() => [l.clientIp, l.vip, 8443, 6, 'eth1', 'eth0']),
    );
    const metrics = (await get(l.node, '/metrics')).body;
    expect(metrics).toMatch(/^asymroute_asymmetric_flows\{vip="2001:db8:1::240",ingress="eth1",egress="eth0"\} [2-9]$/m);
    expect(metrics).toMatch(/^asymroute_vip_ingress_packets_total\{vip="2001:db8:1::240",interface="eth1"\} [1-9]/m);
    // Fixed: new connections succeed and their flows are symmetric.
    await fixByPolicyRouting(l);
    expect((await tcpConnect(l.client, l.vip, 8443, 3000)).ok).toBe(true);
    const ok = await until('a symmetric IPv6 flow', async () => {
      const f = JSON.parse((await get(l.node, `/v1/flows?vip=${l.vip}&outcome=symmetric`)).body) as { flows: Flow[] };
      return f.flows.length >= 1 ? f.flows : null;
    });
    expect(ok[0]).toMatchObject({ client: l.clientIp, ingress: 'eth1', egress: 'eth1' });
  });

  it(
    'reports the incident, sees live asymmetric flows, clears and re-raises on route changes, shuts down cleanly',
    { timeout: 120_000 },
    async () => {
      const l = (lab = await buildIncidentLab('arserve'));
      server = await startTcpServer(l.node, l.vip, 8443);
      const logs: string[] = [];
      agent = serveInNetns(
        l.node.name,
        ['--vip', l.vip, '--client', l.clientCidr, '--interval', '300', '--flow-idle', '30', '--kubernetes', 'off', '--pcap-download'],
        { reject: false, stdin: 'ignore', all: true, buffer: false, env: { ASYMROUTE_CONFIG: '' } },
      );
      collectLines(agent.all, logs);

      await until('readyz', async () => (await get(l.node, '/readyz')).status === 200);
      const report = await get(l.node, '/');
      expect(report.type).toMatch(/^text\/plain/);
      expect(report.body).toMatch(
        /CRITICAL asymmetric-reply-path: 192\.168\.1\.240: requests arrive on eth1, replies to .* leave on eth0 \(default via 192\.168\.121\.1 dev eth0\)/,
      );
      const asJson = JSON.parse((await get(l.node, '/', 'application/json')).body);
      expect(asJson.schema).toBe('asymroute.check/v1');
      expect((await get(l.node, '/healthz')).status).toBe(200);

      // Live evidence from real connections.
      for (let i = 0; i < 2; i++) expect((await tcpConnect(l.client, l.vip, 8443, 1500)).ok).toBe(false);
      const flows = await until('asymmetric flows', async () => {
        const f = JSON.parse((await get(l.node, `/v1/flows?vip=${l.vip}&outcome=asymmetric`)).body) as {
          flows: Array<{ ingress: string; egress: string }>;
        };
        return f.flows.length >= 2 ? f.flows : null;
      });
      expect(flows[0]).toMatchObject({ ingress: 'eth1', egress: 'eth0' });
      const metrics = (await get(l.node, '/metrics')).body;
      expect(metrics).toMatch(
        new RegExp(`asymroute_reply_path_asymmetric\\{vip="${l.vip.replace(/\./g, '\\.')}",ingress="eth1",egress="eth0"\\} 1`),
      );
      expect(metrics).toMatch(/asymroute_flows\{vip="192\.168\.1\.240",outcome="asymmetric"\} [2-9]/);
      expect(metrics).toMatch(/asymroute_asymmetric_flows\{vip="192\.168\.1\.240",ingress="eth1",egress="eth0"\} [2-9]/);
      expect(metrics).toMatch(/asymroute_vip_findings\{vip="192\.168\.1\.240",type="asymmetric-flows-observed",severity="critical"\} 1/);
      expect(metrics).toMatch(/asymroute_vip_ingress_packets_total\{vip="192\.168\.1\.240",interface="eth1"\} [1-9]/);
      expect(metrics).toMatch(/asymroute_capture_up 1/);
      expect(metrics).toMatch(/asymroute_findings\{type="asymmetric-reply-path",severity="critical"\} 1/);
      expect(metrics).not.toMatch(/203\.0\.113\.5/); // no client addresses in labels
      const lint = await execa('promtool', ['check', 'metrics'], { input: metrics, reject: false });
      expect({ code: lint.exitCode, out: `${lint.stdout}${lint.stderr}` }).toEqual({ code: 0, out: '' });

      // Fix while the agent runs: the route monitor triggers a check within seconds (the period is 300 s).
      await fixByPolicyRouting(l);
      await until(
        'the static finding to clear',
        async () => {
          const f = JSON.parse((await get(l.node, '/v1/findings')).body) as { findings: Array<{ type: string }> };
          return !f.findings.some((x) => x.type === 'asymmetric-reply-path');
        },
        10_000,
      );
      expect(logs.some((x) => x.includes('"event":"finding-cleared"') && x.includes('asymmetric-reply-path'))).toBe(true);
      expect((await tcpConnect(l.client, l.vip, 8443, 1500)).ok).toBe(true);

      // Break it again.
      await l.node.ip(['rule', 'del', 'from', l.vip, 'lookup', '100']);
      await until(
        'the finding to come back',
        async () => {
          const f = JSON.parse((await get(l.node, '/v1/findings')).body) as { findings: Array<{ type: string; firstSeen: string }> };
          return f.findings.some((x) => x.type === 'asymmetric-reply-path');
        },
        10_000,
      );

      // A bounded pcap download while the client connects.
      const tcpdumps = async () =>
        (
          await Promise.all(
            (await execa('ip', ['netns', 'pids', l.node.name])).stdout
              .split('\n')
              .filter(Boolean)
              .map(async (p) => (await execa('cat', [`/proc/${p}/comm`], { reject: false })).stdout.trim()),
          )
        ).filter((n) => n === 'tcpdump').length;
      const download = l.node.exec([process.execPath, '-e', GET_BIN_JS, `http://127.0.0.1:${PORT}/v1/capture?seconds=2`], {
        timeoutMs: 20_000,
      });
      // The download's own tcpdump beside the live capture's.
      await until('the download capture to start', async () => (await tcpdumps()) >= 2, 10_000);
      // One download at a time: a second one while the first runs is 409.
      const second = await get(l.node, '/v1/capture?seconds=1');
      expect([second.status, JSON.parse(second.body)]).toEqual([409, { error: 'a capture download is already running; one at a time' }]);
      // The process shows before its filter is attached: connect until the 2 s download ends (at most 5 times).
      let downloaded = false;
      const ended = () => (downloaded = true);
      download.then(ended, ended);
      for (let i = 0; i < 5 && !downloaded; i++) await tcpConnect(l.client, l.vip, 8443, 1000);
      const pcap = JSON.parse((await download).stdout) as { status: number; type: string; head: string; length: number };
      expect(pcap.status).toBe(200);
      expect(pcap.type).toBe('application/vnd.tcpdump.pcap');
      expect(pcap.head.slice(0, 8)).toBe('d4c3b2a1'); // pcap, microseconds, little-endian
      expect(parseInt(pcap.head.slice(40, 48).match(/../g)!.reverse().join(''), 16)).toBe(276); // LINUX_SLL2
      // Headers only: the live capture's snaplen (--snaplen, 192 by default), not tcpdump's 262144.
      expect(parseInt(pcap.head.slice(32, 40).match(/../g)!.reverse().join(''), 16)).toBe(192);
      const payloads = await get(l.node, '/v1/capture?seconds=1&payloads=true');
      expect([payloads.status, payloads.body]).toEqual([403, expect.stringMatching(/--pcap-download-payloads/)]);
      expect(pcap.length).toBeGreaterThan(24 + 16 + 40);
      expect((await get(l.node, '/v1/capture?seconds=999')).status).toBe(400);

      const routes = JSON.parse((await get(l.node, '/v1/routes')).body);
      expect(routes.version).toBe(1);
      expect((await get(l.node, '/v1/flows?limit=0')).status).toBe(400);

      // SIGTERM: the agent exits 0 and leaves no tcpdump or ip monitor behind. The check means something only if the
      // agent's own tcpdump and ip monitor were running: seen first as its children, by their command lines.
      const agentPid = agent.pid!;
      const children = agentChildren(agentPid);
      expect(children.map((c) => c.argv.join(' '))).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^tcpdump .*-y LINUX_SLL2/),
          expect.stringMatching(/^ip monitor route rule addr link$/),
        ]),
      );
      const watched = children.filter((c) => c.argv[0] === 'tcpdump' || c.argv[0] === 'ip');
      agent.kill('SIGTERM');
      const r = await agent;
      expect(r.exitCode).toBe(0);
      expect(logs.some((x) => x.includes('"event":"stopped"'))).toBe(true);
      expect(watched.filter((c) => alive(c.pid, c.argv))).toEqual([]);
      const left = (await execa('ip', ['netns', 'pids', l.node.name])).stdout.split('\n').filter(Boolean);
      const names = await Promise.all(left.map(async (p) => (await execa('cat', [`/proc/${p}/comm`], { reject: false })).stdout.trim()));
      expect(names.filter((n) => n === 'tcpdump' || n === 'ip')).toEqual([]);
    },
  );
});
