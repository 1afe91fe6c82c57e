// The HTTP interface with fastify's inject, over an agent whose last check is a real offline analysis of the
// incident's snapshot (no capture, no kernel): routes, content negotiation, bad parameters, metrics via promtool.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { writeFileSync } from 'node:fs';
import { buildHttp, buildProbeHttp, LIMITS, singleFlight, type HttpOptions } from '../../agent/exposition/http.js';
import { TokenFileAuthorizer } from '../../agent/exposition/auth.js';
import { tempDir } from '../helpers/tmp.js';
import { agentRegistry } from '../../agent/exposition/metrics.js';
import type { HostSnapshot } from '../../agent/model/host-state.js';
import { Agent } from '../../agent/runtime/agent.js';
import { CaptureMonitor } from '../../agent/capture/capture-monitor.js';
import { ReplyPathMonitor } from '../../agent/reply-path/check-monitor.js';
import { LinkNames } from '../../agent/sources/link-names.js';
import { IpRunner } from '../../agent/sources/ip-command.js';
import { Supervisor } from '../../agent/supervisor/restarter.js';
import { ROOT } from '../helpers/cli.js';
import { until } from '../helpers/wait.js';

const SNAP = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/vagrant-incident.snapshot.json'), 'utf8')) as HostSnapshot;
const VIP = { ip: '192.168.1.240', ingress: null, source: 'flag' as const };

// The monitors serve wires, with the incident's snapshot for the host and no kernel to ask; the capture's tcpdump
// is a binary that does not exist, so a wanted capture is down.
function makeAgent(capture = false, readSnapshot: () => Promise<HostSnapshot> = async () => SNAP) {
  const registry = agentRegistry({ version: 'test', node: 'node1' });
  const supervisor = new Supervisor();
  let agent: Agent | null = null;
  const changed = () => agent?.gather();
  const log = () => undefined;
  const checks: ReplyPathMonitor = new ReplyPathMonitor({
    vips: [VIP],
    autoDetect: false,
    clientCidrs: ['203.0.113.0/24'],
    managementCidrs: ['192.168.121.0/24'],
    gateways: {},
    intervalMs: 60_000,
    debounceMs: 300,
    log,
    registry,
    changed,
    readSnapshot,
    oracle: async () => null,
    readConntrack: async () => null,
    onChecked: (vips) => cap.follow(vips),
  });
  const cap = new CaptureMonitor({
    capture: { enabled: capture, snaplen: 192, bufferKiB: 4096, flowCapacity: 1000, idleMs: 60_000 },
    names: new LinkNames(new IpRunner()),
    log,
    registry,
    restarter: supervisor.restarter('tcpdump', { initialMs: 60_000, maxMs: 60_000 }),
    staticVip: (ip) => checks.vipReport(ip),
    tcpdumpBinary: '/nonexistent/tcpdump',
    changed,
  });
  agent = new Agent({ log, registry, supervisor, readyWhen: () => checks.ready });
  agent.add(cap);
  agent.add(checks);
  return { agent, checks, cap, registry };
}

type Parts = ReturnType<typeof makeAgent>;

async function checked(p: Parts): Promise<Parts> {
  await p.checks.check('test');
  return p;
}

function app(p: Parts, pcapDownload: HttpOptions['pcapDownload'] = { enabled: false }, auth: HttpOptions['auth'] = null) {
  return buildHttp({
    agent: p.agent,
    checks: p.checks,
    registry: p.registry,
    node: 'node1',
    version: 'test',
    vipSource: 'configured',
    metricsMaxAgeMs: 0,
    pcapDownload,
    auth,
  });
}

describe('HTTP before the first check', () => {
  it('is not ready and has no snapshot yet', async () => {
    const a = app(makeAgent());
    expect((await a.inject('/readyz')).statusCode).toBe(503);
    expect((await a.inject('/v1/routes')).statusCode).toBe(503);
    expect((await a.inject('/healthz')).statusCode).toBe(200);
  });
});

describe('HTTP after a check', () => {
  let a: ReturnType<typeof app>;
  beforeAll(async () => {
    a = app(await checked(makeAgent()));
  });

  it('serves the report as text by default and JSON on request', async () => {
    const text = await a.inject('/');
    expect(text.headers['content-type']).toMatch(/^text\/plain/);
    expect(text.body).toMatch(/CRITICAL asymmetric-reply-path: 192\.168\.1\.240: requests arrive on eth1/);
    expect(text.body).toMatch(/Live flows: capture disabled/);
    for (const r of [await a.inject({ url: '/', headers: { accept: 'application/json' } }), await a.inject('/?format=json')]) {
      expect(r.headers['content-type']).toMatch(/^application\/json/);
      const j = r.json();
      expect(j.schema).toBe('asymroute.check/v1');
      expect(j.findings.map((f: { type: string }) => f.type).sort()).toEqual([
        'asymmetric-reply-path',
        'default-route-on-management-network',
      ]);
      expect(j.findings[0].firstSeen).toBeTypeOf('string');
    }
  });

  it('serves the API', async () => {
    expect((await a.inject('/readyz')).statusCode).toBe(200);
    expect((await a.inject('/v1/vips')).json().vips[0].ingress).toBe('eth1');
    expect((await a.inject('/v1/routes')).json().hostname).toBe(SNAP.hostname);
    expect((await a.inject('/v1/findings')).json().findings).toHaveLength(2);
    expect((await a.inject('/v1/flows')).json()).toEqual({ flows: [], capture: 'disabled' });
  });

  it.each([
    ['/v1/flows?vip=nope', /vip "nope" is not an IP address/],
    ['/v1/flows?outcome=weird', /outcome "weird" is not one of symmetric, asymmetric, unanswered, no-reply, reset, pending/],
    ['/v1/flows?limit=0', /limit "0" must be an integer from 1 to 10000/],
    ['/v1/flows?limit=abc', /limit "abc"/],
    ['/v1/flows?vip=1.2.3.4&vip=5.6.7.8', /given more than once/],
    ['/?format=json&format=text', /given more than once/],
  ])('400 for %s', async (url, msg) => {
    const r = await a.inject(url);
    expect(r.statusCode).toBe(400);
    expect(r.json().error).toMatch(msg);
  });

  it('404 names the endpoints; capture download is off by default', async () => {
    const r = await a.inject('/v2/nothing');
    expect(r.statusCode).toBe(404);
    expect(r.json().endpoints).toContain('/v1/findings');
    const c = await a.inject('/v1/capture?seconds=5');
    expect(c.statusCode).toBe(403);
    expect(c.json().error).toMatch(/disabled/);
  });

  it('metrics pass promtool and carry no client addresses', async () => {
    const r = await a.inject('/metrics');
    expect(r.body).toMatch(/asymroute_reply_path_asymmetric\{vip="192\.168\.1\.240",ingress="eth1",egress="eth0"\} 1/);
    expect(r.body).toMatch(/asymroute_findings\{type="asymmetric-reply-path",severity="critical"\} 1/);
    expect(r.body).toMatch(/asymroute_vip_findings\{vip="192\.168\.1\.240",type="asymmetric-reply-path",severity="critical"\} 1/);
    expect(r.body).toMatch(/asymroute_check_duration_seconds_count 1/);
    expect(r.body).toMatch(/asymroute_build_info\{version="test",revision="unknown",node="node1"\} 1/);
    expect(r.body).toMatch(/asymroute_capture_up 0/);
    expect(r.body).not.toMatch(/203\.0\.113/);
    const lint = await execa('promtool', ['check', 'metrics'], { input: r.body, reject: false });
    expect({ code: lint.exitCode, out: `${lint.stdout}${lint.stderr}` }).toEqual({ code: 0, out: '' });
  });
});

describe('HTTP answers for a down capture and a busy download', () => {
  it('healthz is 503 capture-down when the capture is wanted and not running', async () => {
    const p = await checked(makeAgent(true));
    onTestFinished(() => p.agent.stop());
    // The missing binary is reported once setpriv, which starts it, has exited.
    const a = app(p);
    await until(async () => (await a.inject('/healthz')).statusCode !== 200, 'the capture child to exit', 5000);
    const r = await a.inject('/healthz');
    expect(r.statusCode).toBe(503);
    expect(r.json()).toMatchObject({ status: 'capture-down', capture: 'down' });
  });

  it('a second capture download while one runs is 409, and the first completes', async () => {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let started = 0;
    const p = makeAgent();
    const a = app(p, {
      enabled: true,
      payloads: false,
      maxSeconds: 5,
      maxBytes: 1000,
      run: async (_s, _b, _p, reply) => {
        started++;
        await released;
        await reply.type('application/vnd.tcpdump.pcap').send(Buffer.alloc(24));
      },
    });
    const first = a.inject('/v1/capture?seconds=1');
    const deadline = Date.now() + 5000;
    while (started === 0 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    expect(started).toBe(1);
    const second = await a.inject('/v1/capture?seconds=1');
    expect(second.statusCode).toBe(409);
    expect(second.json()).toEqual({ error: 'a capture download is already running; one at a time' });
    release();
    expect((await first).statusCode).toBe(200);
    expect(started).toBe(1);
    // One at a time, not one ever: after the first, another may run.
    expect((await a.inject('/v1/capture?seconds=1')).statusCode).toBe(200);
    expect(started).toBe(2);
  });
});

describe('HTTP with static bearer tokens', () => {
  const tokens = () => {
    const f = join(tempDir('http-tokens'), 'tokens');
    writeFileSync(f, 'metrics-0123456789abcdef metrics prometheus\ncapture-0123456789abcdef report,capture ops\n');
    return new TokenFileAuthorizer(f);
  };
  const runs: boolean[] = [];
  const download = (payloads: boolean): HttpOptions['pcapDownload'] => ({
    enabled: true,
    payloads,
    maxSeconds: 5,
    maxBytes: 1000,
    run: async (_s, _b, p, reply) => {
      runs.push(p);
      await reply.type('application/vnd.tcpdump.pcap').send(Buffer.alloc(24));
    },
  });
  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

  it('leaves the probes open, and answers 401 or 403 elsewhere with the missing permission', async () => {
    const a = app(await checked(makeAgent()), download(false), tokens());
    expect((await a.inject('/healthz')).statusCode).toBe(200);
    expect((await a.inject('/readyz')).statusCode).toBe(200);
    const none = await a.inject('/v1/routes');
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer realm="asymroute"');
    expect((await a.inject({ url: '/metrics', headers: bearer('nope-0123456789abcdef') })).statusCode).toBe(401);
    expect((await a.inject({ url: '/metrics', headers: bearer('metrics-0123456789abcdef') })).statusCode).toBe(200);
    for (const url of ['/', '/v1/flows', '/v1/capture?seconds=1', '/v2/nothing']) {
      const r = await a.inject({ url, headers: bearer('metrics-0123456789abcdef') });
      expect([url, r.statusCode, r.json().permission]).toEqual([url, 403, url.startsWith('/v1/capture') ? 'capture' : 'report']);
    }
    expect(runs).toEqual([]);
    expect((await a.inject({ url: '/v1/routes', headers: bearer('capture-0123456789abcdef') })).statusCode).toBe(200);
    expect((await a.inject({ url: '/v1/capture?seconds=1', headers: bearer('capture-0123456789abcdef') })).statusCode).toBe(200);
    expect(runs).toEqual([false]);
    const m = (await a.inject({ url: '/metrics', headers: bearer('metrics-0123456789abcdef') })).body;
    expect(m).toMatch(/^asymroute_http_auth_total\{permission="report",result="unauthenticated"\} 1$/m);
    expect(m).toMatch(/^asymroute_http_auth_total\{permission="metrics",result="unauthenticated"\} 1$/m);
    expect(m).toMatch(/^asymroute_http_auth_total\{permission="report",result="forbidden"\} 3$/m);
    expect(m).toMatch(/^asymroute_http_auth_total\{permission="capture",result="forbidden"\} 1$/m);
    expect(m).toMatch(/^asymroute_http_auth_total\{permission="metrics",result="allowed"\} 2$/m);
  });

  it('gives payloads only with their own scope and only when the agent allows them', async () => {
    runs.length = 0;
    const f = join(tempDir('http-tokens'), 'tokens');
    writeFileSync(f, 'capture-0123456789abcdef capture ops\npayload-0123456789abcdef capture,capture-payloads root\n');
    const url = '/v1/capture?seconds=1&payloads=true';
    const off = app(makeAgent(), download(false), new TokenFileAuthorizer(f));
    const denied = await off.inject({ url, headers: bearer('payload-0123456789abcdef') });
    expect([denied.statusCode, denied.json().error]).toEqual([403, expect.stringMatching(/--pcap-download-payloads/)]);
    const on = app(makeAgent(), download(true), new TokenFileAuthorizer(f));
    const scope = await on.inject({ url, headers: bearer('capture-0123456789abcdef') });
    expect([scope.statusCode, scope.json().permission]).toEqual([403, 'capture-payloads']);
    expect((await on.inject({ url, headers: bearer('payload-0123456789abcdef') })).statusCode).toBe(200);
    expect((await on.inject({ url: '/v1/capture?seconds=1&payloads=maybe', headers: bearer('payload-0123456789abcdef') })).statusCode).toBe(
      400,
    );
    expect(runs).toEqual([true]);
  });
});

describe('health that tells the truth', () => {
  it('is not ready after a failed check, and is once a check succeeds; the failure is counted, not a success', async () => {
    let fail = true;
    const p = makeAgent(false, async () => {
      if (fail) throw new Error('ip -j route show: exited 1');
      return SNAP;
    });
    const a = app(p);
    await p.checks.check('test');
    const r = await a.inject('/readyz');
    expect(r.statusCode).toBe(503);
    expect(r.json().lastCheck).toMatchObject({ error: 'ip -j route show: exited 1', count: 1, failures: 1, lastSuccessAt: null });
    let m = (await a.inject('/metrics')).body;
    expect(m).toMatch(/^asymroute_checks_total\{result="error"\} 1$/m);
    expect(m).toMatch(/^asymroute_checks_total\{result="ok"\} 0$/m);
    expect(m).toMatch(/^asymroute_check_last_success_timestamp_seconds 0$/m);
    expect(m).toMatch(/^asymroute_check_last_run_timestamp_seconds \d/m);
    fail = false;
    await p.checks.check('test');
    expect((await a.inject('/readyz')).statusCode).toBe(200);
    m = (await a.inject('/metrics')).body;
    expect(m).toMatch(/^asymroute_checks_total\{result="ok"\} 1$/m);
    expect(m).toMatch(/^asymroute_check_last_success_timestamp_seconds [1-9]/m);
  });
});

describe('the probe listener (--probe-port)', () => {
  it('answers /healthz and /readyz as the API port does, without a token, and nothing else', async () => {
    const p = makeAgent(false);
    const dir = tempDir('asymroute-probe-');
    writeFileSync(join(dir, 'tokens'), 'probe-test-token-0123 metrics\n');
    const auth = new TokenFileAuthorizer(join(dir, 'tokens'));
    const api = app(p, { enabled: false }, auth);
    const server = buildProbeHttp(p.agent, p.checks);
    await new Promise<void>((r) => server.listen({ host: '127.0.0.1', port: 0 }, r));
    onTestFinished(() => void server.close());
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const same = async (path: string) => {
      const [probe, main] = [await fetch(base + path), await api.inject(path)];
      expect([probe.status, probe.headers.get('content-type')], path).toEqual([main.statusCode, 'application/json; charset=utf-8']);
      expect(await probe.json(), path).toEqual(main.json());
      return probe.status;
    };
    expect(await same('/readyz')).toBe(503);
    await p.checks.check('test');
    expect(await same('/readyz')).toBe(200);
    expect(await same('/healthz')).toBe(200);
    expect((await fetch(`${base}/healthz?verbose=1`)).status).toBe(200);
    expect((await fetch(`${base}/healthz`, { method: 'HEAD' })).status).toBe(200);
    // The API port wants a token for the rest; the probe port has none of it to give.
    expect((await api.inject('/v1/findings')).statusCode).toBe(401);
    for (const path of ['/v1/findings', '/metrics', '/', '/v1/routes']) {
      const r = await fetch(base + path);
      expect(r.status, path).toBe(404);
      expect(((await r.json()) as { endpoints: string[] }).endpoints).toEqual(['/healthz', '/readyz']);
    }
    expect((await fetch(`${base}/healthz`, { method: 'POST', body: 'x' })).status).toBe(405);
  });
});

describe('a scrape flood costs one rendering a second', () => {
  it('shares one rendering among concurrent callers within the age, renders again after it, never serves a failure', async () => {
    let t = 0;
    let made = 0;
    let fail = false;
    const f = singleFlight(
      async () => {
        made++;
        if (fail) throw new Error('boom');
        return made;
      },
      1000,
      () => t,
    );
    const all = await Promise.all(Array.from({ length: 100 }, () => f()));
    expect(new Set(all)).toEqual(new Set([1]));
    expect(made).toBe(1);
    t = 999;
    expect(await f()).toBe(1);
    t = 1000;
    expect(await f()).toBe(2);
    fail = true;
    t = 5000;
    await expect(f()).rejects.toThrow('boom');
    fail = false;
    expect(await f()).toBe(4);
  });

  it('bounds connections and times out idle and slow clients', () => {
    const p = makeAgent();
    const a = app(p);
    // Not Node's maxConnections, which refuses the newest (the probe) once idle sockets fill it: connections.ts.
    expect(a.server.maxConnections).toBeUndefined();
    expect(a.server.listenerCount('connection')).toBeGreaterThan(0);
    expect(a.initialConfig).toMatchObject({
      connectionTimeout: LIMITS.socketIdleMs,
      keepAliveTimeout: LIMITS.keepAliveMs,
      requestTimeout: LIMITS.requestMs,
    });
  });
});
