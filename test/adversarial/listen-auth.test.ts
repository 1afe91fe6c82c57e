// Issue 12, adversarial: no unauthenticated request is served outside loopback. From the client's namespace (an
// attacker on the LAN), the agent's API on the VIP and on the node's LAN address must answer nothing but /healthz and
// /readyz without credentials.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, afterEach, expect, it } from 'vitest';
import { buildIncidentLab, fixByDefaultRoute, V4, type IncidentLab } from '../../agent/netns/incident-lab.js';
import { untilValue } from '../helpers/netns-http.js';
import { describeAsRoot } from '../helpers/root.js';
import { tempDir } from '../helpers/tmp.js';
import { AGENT_BIN, getFrom, startAgent, type RunningAgent } from './attack.js';
import { collectLines } from '../helpers/cli.js';
import { cleanupResults, report } from './measure.js';

/** What an attacker on the LAN asks for: the report, the routes and neighbours, client flows, metrics. */
const PROTECTED = ['/', '/v1/routes', '/v1/flows', '/v1/findings', '/metrics'];
const PORT = 9472;
const TOKEN = 'adversarial-test-token-0123456789';
// GET over HTTPS from the attacker's namespace, with an optional bearer token: the status, or 0 and why.
const TLS_READ_JS = `fetch(process.argv[1], { headers: process.argv[2] ? { authorization: 'Bearer ' + process.argv[2] } : {}, signal: AbortSignal.timeout(8000) }).then((r) => process.stdout.write(JSON.stringify({ status: r.status })), (e) => process.stdout.write(JSON.stringify({ status: 0, error: String(e.cause?.code || e.name) })));`;

/** Every protected path from the client namespace, at the VIP and at the node's LAN address: status (0: no answer). */
async function fromLan(l: IncidentLab): Promise<Record<string, number>> {
  const urls = [l.vip, V4.nodeLan].flatMap((host) => PROTECTED.map((p) => `${host}:${PORT}${p}`));
  const got = await Promise.all(urls.map((u) => getFrom(l.client, `http://${u}`, 5_000)));
  return Object.fromEntries(urls.map((u, i) => [u, got[i]!.status]));
}

/** The lab with its reply path fixed (default route on eth1), so the client would see any answer the node sends. */
async function lanLab(): Promise<IncidentLab> {
  const l = await buildIncidentLab('advlsn');
  await fixByDefaultRoute(l);
  return l;
}

afterAll(cleanupResults);

describeAsRoot('adversarial: no unauthenticated request served outside loopback', () => {
  let lab: IncidentLab | null = null;
  let agent: RunningAgent | null = null;
  let raw: ResultPromise | null = null;
  afterEach(async () => {
    agent?.proc.kill('SIGKILL');
    raw?.kill('SIGKILL');
    await Promise.allSettled([agent?.proc, raw]);
    await lab?.lab.destroy();
    lab = agent = raw = null;
  });

  it('with the default listen address, nothing of the API answers from the LAN', { timeout: 60_000 }, async () => {
    const l = (lab = await lanLab());
    agent = await startAgent(l.node, ['--vip', l.vip, '--client', l.clientCidr, '--kubernetes', 'off', '--port', String(PORT)]);
    const seen = await fromLan(l);
    report('listen-default', {
      served:
        Object.entries(seen)
          .filter(([, s]) => s === 200)
          .map(([k]) => k)
          .join(' ') || 'none',
    });
    expect(Object.entries(seen).filter(([, s]) => s === 200)).toEqual([]);
  });

  // A non-loopback address with no auth mode and no explicit insecure opt-out is refused at start.
  it(
    'a non-loopback --listen without an auth mode is refused, and serves nothing unauthenticated meanwhile',
    { timeout: 60_000 },
    async () => {
      const l = (lab = await lanLab());
      raw = execa(
        'ip',
        [
          'netns',
          'exec',
          l.node.name,
          process.execPath,
          AGENT_BIN,
          'serve',
          '--vip',
          l.vip,
          '--client',
          l.clientCidr,
          '--kubernetes',
          'off',
          '--listen',
          '0.0.0.0',
          '--port',
          String(PORT),
        ],
        { reject: false, stdin: 'ignore', all: true, buffer: false, env: { ASYMROUTE_CONFIG: '' } },
      );
      const logs: string[] = [];
      collectLines(raw.all, logs);
      let exit: number | null = null;
      void raw.then((r) => (exit = r.exitCode ?? -1));
      const outcome = await untilValue(
        'the agent to refuse, or to listen',
        async () => (exit !== null ? 'exited' : logs.some((x) => x.includes('"event":"listening"')) ? 'listening' : null),
        20_000,
      );
      const seen = outcome === 'listening' ? await fromLan(l) : {};
      const served = Object.entries(seen)
        .filter(([, s]) => s === 200)
        .map(([k]) => k);
      report('listen-any-without-auth', {
        outcome,
        exitCode: exit,
        served: served.join(' ') || 'none',
        log: logs.slice(-2).join(' | ').slice(0, 200),
      });

      expect.soft(served, 'protected paths answered 200 to an unauthenticated client on the LAN').toEqual([]);
      expect.soft(outcome, 'the agent refuses to start').toBe('exited');
      expect.soft(exit !== null && exit !== 0, `with a non-zero exit (exit: ${exit})`).toBe(true);
      expect.soft(logs.join('\n'), 'and says why (an auth mode or the insecure opt-out is needed)').toMatch(/auth|token|insecure/i);
    },
  );

  it(
    'with a token file on 0.0.0.0: HTTPS, 401 for every protected path without a token, probes open, a token reads its scope only',
    { timeout: 60_000 },
    async () => {
      const l = (lab = await lanLab());
      const dir = tempDir('advtok');
      const file = join(dir, 'tokens');
      writeFileSync(file, `${TOKEN} metrics scraper\n`, { mode: 0o600 });
      agent = await startAgent(l.node, [
        '--vip',
        l.vip,
        '--client',
        l.clientCidr,
        '--kubernetes',
        'off',
        '--listen',
        '0.0.0.0',
        '--port',
        String(PORT),
        '--auth-token-file',
        file,
      ]);
      const get = async (url: string, token?: string) => {
        const r = await l.client.exec([process.execPath, '-e', TLS_READ_JS, url, token ?? ''], {
          timeoutMs: 15_000,
          env: { NODE_TLS_REJECT_UNAUTHORIZED: '0' },
        });
        return JSON.parse(r.stdout) as { status: number; error?: string };
      };
      const urls = [l.vip, V4.nodeLan].flatMap((host) => PROTECTED.map((p) => `https://${host}:${PORT}${p}`));
      const anonymous = await Promise.all(urls.map((u) => get(u)));
      const plain = await get(`http://${l.vip}:${PORT}/metrics`);
      const probes = await Promise.all(['/healthz', '/readyz'].map((p) => get(`https://${l.vip}:${PORT}${p}`)));
      const scoped = await Promise.all(['/metrics', '/v1/flows'].map((p) => get(`https://${l.vip}:${PORT}${p}`, TOKEN)));
      report('listen-any-with-tokens', {
        anonymous: [...new Set(anonymous.map((r) => r.status))].join(','),
        plainHttp: plain.status || plain.error || 'none',
        probes: probes.map((r) => r.status).join(','),
        metricsToken: scoped.map((r) => r.status).join(','),
      });
      expect(anonymous.map((r) => r.status)).toEqual(urls.map(() => 401));
      expect(plain.status, 'plain HTTP gets no answer from an HTTPS port').not.toBe(200);
      expect(probes.map((r) => r.status)).toEqual([200, 200]);
      expect(scoped.map((r) => r.status)).toEqual([200, 403]);
    },
  );
});
