// The chart's container capabilities, measured: the agent runs in a namespace under setpriv with exactly the
// bounding set the rendered DaemonSet adds after dropping ALL (what a root container gets in Kubernetes), and then
// with each of those capabilities taken away. Each one must be needed, and together they must be enough.

import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildIncidentLab, fixByDefaultRoute, type IncidentLab } from '../../agent/netns/incident-lab.js';
import { markedCaptures } from '../../agent/capture/tcpdump.js';
import { BIN, collectLines } from '../helpers/cli.js';
import { renderChart } from '../helpers/helm.js';
import { AGENT_PORT, nsGet, untilValue } from '../helpers/netns-http.js';
import { describeAsRoot } from '../helpers/root.js';

/** tcpdump processes started by the agent with this pid (they carry its pid in their environment). */
const capturesOf = async (agentPid: number) => (await markedCaptures()).filter((c) => c.owner === agentPid).map((c) => c.pid);

const captureUp = (metrics: string) => /^asymroute_capture_up (\d)/m.exec(metrics)?.[1] ?? null;

describeAsRoot('chart capabilities', () => {
  let lab: IncidentLab | null = null;
  const leftovers: number[] = [];
  const chartCaps = (): string[] => {
    const ds = renderChart().objects.find((o) => o.kind === 'DaemonSet') as unknown as {
      spec: { template: { spec: { containers: Array<{ securityContext: { capabilities: { drop: string[]; add: string[] } } }> } } };
    };
    const caps = ds.spec.template.spec.containers[0]!.securityContext.capabilities;
    expect(caps.drop).toEqual(['ALL']);
    return caps.add;
  };

  beforeAll(async () => {
    lab = await buildIncidentLab('arcaps');
  }, 60_000);
  afterAll(async () => {
    for (const pid of leftovers) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await lab?.lab.destroy();
  });

  /** Starts serve with only `caps` in its bounding set, waits for the first check, returns the agent. */
  async function startWith(caps: string[]): Promise<{ agent: ResultPromise; logs: string[] }> {
    const l = lab!;
    const bounding = ['-all', ...caps.map((c) => `+${c.toLowerCase()}`)].join(',');
    const logs: string[] = [];
    const agent = execa(
      'ip',
      [
        'netns',
        'exec',
        l.node.name,
        'setpriv',
        '--bounding-set',
        bounding,
        '--inh-caps',
        '-all',
        process.execPath,
        BIN,
        'serve',
        '--vip',
        l.vip,
        '--client',
        l.clientCidr,
        '--kubernetes',
        'off',
        '--listen',
        '127.0.0.1',
        '--port',
        String(AGENT_PORT),
      ],
      { reject: false, stdin: 'ignore', all: true, buffer: false, env: { ASYMROUTE_CONFIG: '' } },
    );
    collectLines(agent.all, logs);
    await untilValue('readyz', async () => (await nsGet(l.node, '/readyz')).status === 200, 20_000);
    return { agent, logs };
  }

  async function stop(agent: ResultPromise): Promise<{ exitCode: number | undefined; ms: number; left: number[] }> {
    const t0 = Date.now();
    agent.kill('SIGTERM');
    const r = await Promise.race([agent, new Promise<null>((res) => setTimeout(() => res(null), 15_000))]);
    if (!r) agent.kill('SIGKILL');
    const left = await capturesOf(agent.pid!);
    leftovers.push(...left);
    return { exitCode: r ? r.exitCode : undefined, ms: Date.now() - t0, left };
  }

  it('the chart adds NET_ADMIN, NET_RAW, SETUID, SETGID and KILL', () => {
    expect([...chartCaps()].sort()).toEqual(['KILL', 'NET_ADMIN', 'NET_RAW', 'SETGID', 'SETUID']);
  });

  it('with exactly those, the capture runs, the ruleset is read, and SIGTERM leaves nothing behind', { timeout: 60_000 }, async () => {
    const { agent, logs } = await startWith(chartCaps());
    await untilValue('capture_up 1', async () => captureUp((await nsGet(lab!.node, '/metrics')).body) === '1', 15_000);
    const report = JSON.parse((await nsGet(lab!.node, '/', 'application/json')).body);
    expect(report.vips[0].blind).toEqual([]);
    expect(logs.filter((x) => x.includes('"event":"capture-exited"'))).toEqual([]);
    expect((await nsGet(lab!.node, '/healthz')).status).toBe(200);
    const s = await stop(agent);
    expect(s).toMatchObject({ exitCode: 0, left: [] });
  });

  it.each([
    ['NET_RAW', /socket: Operation not permitted/],
    // setpriv starts tcpdump as its own user (so that it still dies with the agent): it needs both.
    ['SETUID', /setpriv: setresuid failed: Operation not permitted/],
    ['SETGID', /setpriv: setresgid failed: Operation not permitted/],
  ])('without %s the capture cannot run, and the agent says so', { timeout: 60_000 }, async (cap, why) => {
    const { agent, logs } = await startWith(chartCaps().filter((c) => c !== cap));
    await untilValue('a failed capture', async () => logs.some((x) => x.includes('"event":"capture-exited"')), 15_000);
    // Sampled while tcpdump is restarted with backoff, until two more restarts have failed: never reported up.
    const exited = () => logs.filter((x) => x.includes('"event":"capture-exited"')).length;
    const target = exited() + 2;
    const samples: Array<string | null> = [];
    await untilValue(
      'two more failed restarts',
      async () => {
        samples.push(captureUp((await nsGet(lab!.node, '/metrics')).body));
        return exited() >= target;
      },
      20_000,
    );
    samples.push(captureUp((await nsGet(lab!.node, '/metrics')).body));
    expect(
      samples.every((x) => x === '0'),
      samples.join(','),
    ).toBe(true);
    const exits = logs.filter((x) => x.includes('"event":"capture-exited"'));
    expect(exits.join('\n')).toMatch(why);
    const health = await nsGet(lab!.node, '/healthz');
    expect(health.status).toBe(503);
    expect(JSON.parse(health.body)).toMatchObject({ status: 'capture-down', lastCaptureError: expect.stringMatching(why) });
    expect((await stop(agent)).exitCode).toBe(0);
  });

  it('without NET_ADMIN the ruleset and conntrack cannot be read: the report says so, and no path is ok', { timeout: 60_000 }, async () => {
    // Routes that would be symmetric: without the ruleset, unknown is the most the agent may say.
    await fixByDefaultRoute(lab!);
    let agent: ResultPromise | null = null;
    try {
      agent = (await startWith(chartCaps().filter((c) => c !== 'NET_ADMIN'))).agent;
      const report = JSON.parse((await nsGet(lab!.node, '/', 'application/json')).body);
      const blind = (report.vips[0].blind as string[]).join('\n');
      expect(blind).toMatch(/the netfilter ruleset could not be read: .*(Permission denied|Operation not permitted)/);
      expect(blind).toMatch(/conntrack: .*must be root or get CAP_NET_ADMIN/);
      const paths = (report.vips[0].paths as Array<{ verdict: string; clientKind: string; egress: string[] }>).filter(
        (p) => p.clientKind !== 'gateway',
      );
      expect(paths.map((p) => `${p.verdict} ${p.egress.join()}`)).toEqual(paths.map(() => 'unknown eth1'));
      expect(report.findings.map((f: { type: string }) => f.type)).toContain('reply-path-unknown');
      expect((await stop(agent)).exitCode).toBe(0);
      agent = null;
    } finally {
      if (agent) await stop(agent);
      await lab!.node.ip(['route', 'replace', 'default', 'via', lab!.mgmtGateway, 'dev', 'eth0']);
    }
  });

  it(
    'without KILL the agent cannot end its tcpdump (which has dropped to its own user): it says so and does not hang',
    { timeout: 60_000 },
    async () => {
      const { agent, logs } = await startWith(chartCaps().filter((c) => c !== 'KILL'));
      await untilValue('capture_up 1', async () => captureUp((await nsGet(lab!.node, '/metrics')).body) === '1', 15_000);
      const s = await stop(agent);
      expect(s.exitCode).toBe(0);
      expect(s.ms).toBeLessThan(12_000);
      expect(s.left).toHaveLength(1);
      expect(logs.join('\n')).toMatch(/"event":"capture-stop-failed".*CAP_KILL/);
    },
  );
});
