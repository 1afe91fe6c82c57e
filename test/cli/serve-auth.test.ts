// The HTTP API's authentication through the real CLI (capture off, so no root): Kubernetes mode against a local API
// that answers TokenReview and SubjectAccessReview like the real one, static tokens over HTTPS with certificate files
// made by openssl and rotated on disk, and the refusal of an unauthenticated listener outside loopback.

import { X509Certificate } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request as httpsRequest } from 'node:https';
import { connect, type PeerCertificate } from 'node:tls';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { describe, expect, it, onTestFinished } from 'vitest';
import { selfSignedFiles } from '../helpers/openssl.js';
import { runCli, startServe } from '../helpers/cli.js';
import { startKubeApi, type KubeApi } from '../helpers/kube-api.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

interface Served {
  port: number;
  logs: string[];
  agent: ResultPromise;
}

const serve = (args: string[]): Promise<Served> => startServe(args);

interface Answer {
  status: number;
  body: string;
  json: () => Record<string, unknown>;
  cert: PeerCertificate | null;
}

/** GET over http or https (with `ca` as the only trusted certificate), with an optional bearer token. */
function get(url: string, o: { token?: string; ca?: string } = {}): Promise<Answer> {
  const u = new URL(url);
  const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      u,
      { headers: o.token ? { authorization: `Bearer ${o.token}` } : {}, ca: o.ca, agent: false, servername: 'localhost' },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          const sock = res.socket as { getPeerCertificate?: () => PeerCertificate };
          resolve({
            status: res.statusCode ?? 0,
            body,
            json: () => JSON.parse(body) as Record<string, unknown>,
            cert: sock.getPeerCertificate ? sock.getPeerCertificate() : null,
          });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** The certificate a TLS server presents, without trusting it. */
function presented(port: number): Promise<{ pem: string; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const c = s.getPeerX509Certificate()!;
      s.end();
      resolve({ pem: c.toString(), fingerprint: c.fingerprint256 });
    });
    s.on('error', reject);
  });
}

const logged = (logs: string[], event: string) =>
  logs.filter((l) => l.includes(`"event":"${event}"`)).map((l) => JSON.parse(l) as Record<string, unknown>);

const USERS = {
  prometheus: { username: 'system:serviceaccount:monitoring:prometheus', uid: 'u-prom', groups: ['system:serviceaccounts'] },
  ops: { username: 'ops@example.com', uid: 'u-ops', groups: ['ops'] },
  nobody: { username: 'nobody@example.com', uid: 'u-nobody', groups: ['system:authenticated'] },
};

function withUsers(api: KubeApi): void {
  api.tokens.set('prom-token', USERS.prometheus);
  api.tokens.set('ops-token', USERS.ops);
  api.tokens.set('nobody-token', USERS.nobody);
  api.rules.set(USERS.prometheus.username, [{ nonResourceURLs: ['/metrics'], verbs: ['get'] }]);
  api.rules.set(USERS.ops.username, [
    { nonResourceURLs: ['/metrics'], verbs: ['get'] },
    { apiGroups: ['asymroute.io'], resources: ['reports'], resourceNames: ['node-a'], verbs: ['get'] },
  ]);
}

const reviews = (api: KubeApi, kind: 'tokenreviews' | 'subjectaccessreviews') =>
  api.requests.filter((r) => r.method === 'POST' && r.path.endsWith(`/${kind}`));

describe('serve --auth kubernetes', () => {
  it('checks tokens with TokenReview and SubjectAccessReview over HTTPS with a self-signed certificate', { timeout: 90_000 }, async () => {
    const api = await startKubeApi();
    withUsers(api);
    const { port, logs } = await serve(['--kubernetes', 'on', '--kubeconfig', api.kubeconfig, '--listen', '127.0.0.1', '--tls', 'on']);
    expect(logged(logs, 'listening')[0]).toMatchObject({ scheme: 'https', auth: 'kubernetes' });

    // The certificate the agent presents is the one it logged, and a client that trusts only it verifies the handshake.
    const cert = await presented(port);
    const made = logged(logs, 'tls-certificate')[0]!;
    expect(made).toMatchObject({ source: 'self-signed', fingerprint: cert.fingerprint });
    const x = new X509Certificate(cert.pem);
    expect(x.checkHost('node-a')).toBe('node-a');
    expect(x.checkIP('127.0.0.1')).toBe('127.0.0.1');
    const base = `https://127.0.0.1:${port}`;
    const as = (path: string, token?: string) => get(`${base}${path}`, { ca: cert.pem, token });
    await expect(get(`${base}/healthz`)).rejects.toThrow(/self.signed certificate/);

    // The probes are open; without a token, or with one the API does not know, 401.
    expect((await as('/healthz')).status).toBe(200);
    await until(async () => (await as('/readyz')).status === 200, 'the first check', 20_000);
    const none = await as('/v1/routes');
    expect([none.status, none.json()['error']]).toEqual([401, expect.stringMatching(/authentication required/)]);
    const wrong = await as('/metrics', 'stolen-token');
    expect([wrong.status, wrong.json()['error']]).toEqual([401, expect.stringMatching(/invalid bearer token: \[invalid bearer token/)]);

    // Prometheus may read /metrics and nothing else; the 403 names the missing permission.
    expect((await as('/metrics', 'prom-token')).status).toBe(200);
    for (const path of ['/v1/flows', '/']) {
      const r = await as(path, 'prom-token');
      expect([path, r.status, r.json()['permission']]).toEqual([path, 403, 'get reports.asymroute.io node-a']);
      expect(r.json()['error']).toMatch(/^system:serviceaccount:monitoring:prometheus may not get reports\.asymroute\.io node-a/);
    }
    const nobody = await as('/metrics', 'nobody-token');
    expect([nobody.status, nobody.json()['permission']]).toEqual([403, 'get /metrics (nonResourceURLs)']);
    const ops = await as('/', 'ops-token');
    expect([ops.status, ops.body]).toEqual([200, expect.stringMatching(/198\.51\.100\.10/)]);
    const capture = await as('/v1/capture?seconds=1', 'ops-token');
    expect([capture.status, capture.json()['permission']]).toEqual([403, 'get captures.asymroute.io node-a']);

    // The reviews the API saw: the agent's own credentials, the token under review, the user's groups, the attributes.
    expect(reviews(api, 'tokenreviews').every((r) => r.authorization === 'Bearer t0k3n')).toBe(true);
    const sars = reviews(api, 'subjectaccessreviews').map((r) => (r.body as { spec: Record<string, unknown> }).spec);
    expect(sars).toContainEqual({
      user: USERS.prometheus.username,
      uid: 'u-prom',
      groups: ['system:serviceaccounts'],
      nonResourceAttributes: { path: '/metrics', verb: 'get' },
    });
    expect(sars).toContainEqual({
      user: USERS.ops.username,
      uid: 'u-ops',
      groups: ['ops'],
      resourceAttributes: { group: 'asymroute.io', resource: 'reports', name: 'node-a', verb: 'get' },
    });

    // Decisions are cached: the same token and path again costs no review.
    const reviewCount = () => reviews(api, 'tokenreviews').length + reviews(api, 'subjectaccessreviews').length;
    const before = reviewCount();
    expect((await as('/metrics', 'prom-token')).status).toBe(200);
    expect((await as('/v1/flows', 'prom-token')).status).toBe(403);
    expect(reviewCount()).toBe(before);

    // An API that fails, then one that is gone: 503, never open; a cached decision still stands.
    api.failWith = 500;
    api.tokens.set('late-token', USERS.ops);
    const failing = await as('/', 'late-token');
    expect([failing.status, failing.json()['error']]).toEqual([503, expect.stringMatching(/cannot check the bearer token.*HTTP 500/)]);
    await api.close();
    const gone = await as('/v1/routes', 'unseen-token');
    expect([gone.status, gone.json()['error']]).toEqual([503, expect.stringMatching(/ECONNREFUSED/)]);
    expect((await as('/', 'ops-token')).status).toBe(200);
    expect((await as('/healthz')).status).toBe(200);
  });
});

// A CA and a serving certificate signed by it, for localhost and 127.0.0.1, made by openssl (not by our code).
async function opensslCertificate(dir: string, tag: string, ca?: { cert: string; key: string }) {
  if (!ca) return selfSignedFiles(dir, tag, { days: 2 });
  const key = join(dir, `${tag}.key`);
  const cert = join(dir, `${tag}.crt`);
  const csr = join(dir, `${tag}.csr`);
  const ext = join(dir, `${tag}.ext`);
  writeFileSync(ext, 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  await execa('openssl', [
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    key,
    '-out',
    csr,
    '-subj',
    `/CN=${tag}`,
  ]);
  await execa('openssl', [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-CAcreateserial',
    '-out',
    cert,
    '-days',
    '2',
    '-extfile',
    ext,
  ]);
  return { cert, key };
}

describe('serve --auth tokens with certificate files', () => {
  it('serves the files, picks up their rotation, and checks the static tokens', { timeout: 90_000 }, async () => {
    const dir = tempDir('tls-files');
    const ca = await opensslCertificate(dir, 'ca');
    const first = await opensslCertificate(dir, 'first', ca);
    const second = await opensslCertificate(dir, 'second', ca);
    // Mounted like a Secret: the agent reads live/tls.crt and live/tls.key.
    const liveCert = join(dir, 'tls.crt');
    const liveKey = join(dir, 'tls.key');
    const install = (c: { cert: string; key: string }) => {
      writeFileSync(`${liveCert}.new`, readFileSync(c.cert, 'utf8'));
      writeFileSync(`${liveKey}.new`, readFileSync(c.key, 'utf8'));
      renameSync(`${liveKey}.new`, liveKey);
      renameSync(`${liveCert}.new`, liveCert);
    };
    install(first);
    const tokens = join(dir, 'tokens');
    writeFileSync(tokens, 'scrape-0123456789abcdef metrics prometheus\nreader-0123456789abcdef metrics,report ops\n');
    const { port, logs } = await serve([
      '--listen',
      '127.0.0.1',
      '--kubernetes',
      'off',
      '--auth-token-file',
      tokens,
      '--tls-cert-file',
      liveCert,
      '--tls-key-file',
      liveKey,
    ]);
    expect(logged(logs, 'listening')[0]).toMatchObject({ scheme: 'https', auth: 'tokens' });
    const caPem = readFileSync(ca.cert, 'utf8');
    const fp = (f: string) => new X509Certificate(readFileSync(f, 'utf8')).fingerprint256;
    const base = `https://localhost:${port}`;

    const m = await get(`${base}/metrics`, { ca: caPem, token: 'scrape-0123456789abcdef' });
    expect([m.status, m.cert?.fingerprint256]).toEqual([200, fp(first.cert)]);
    expect((await get(`${base}/metrics`, { ca: caPem })).status).toBe(401);
    expect((await get(`${base}/metrics`, { ca: caPem, token: 'scrape-0123456789abcdeX' })).status).toBe(401);
    const denied = await get(`${base}/v1/flows`, { ca: caPem, token: 'scrape-0123456789abcdef' });
    expect([denied.status, denied.json()['permission']]).toEqual([403, 'report']);
    expect((await get(`${base}/v1/flows`, { ca: caPem, token: 'reader-0123456789abcdef' })).status).toBe(200);

    install(second);
    await until(async () => (await presented(port)).fingerprint === fp(second.cert), 'the rotated certificate', 30_000);
    const after = await get(`${base}/v1/findings`, { ca: caPem, token: 'reader-0123456789abcdef' });
    expect([after.status, after.cert?.fingerprint256]).toEqual([200, fp(second.cert)]);
    expect(logged(logs, 'tls-certificate-reloaded')).toHaveLength(1);
  });
});

describe('serve outside loopback', () => {
  it('refuses to listen without authentication, quoting the address', { timeout: 60_000 }, async () => {
    const r = await runCli(['serve', '--capture=false', '--kubernetes', 'off', '--listen', '0.0.0.0', '--port', '0'], {
      env: { ASYMROUTE_CONFIG: '' },
    });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/--listen "0\.0\.0\.0" is not a loopback address and --auth is none/);
    expect(r.stderr).toMatch(/--insecure-no-auth/);
  });

  it('refuses bearer tokens over plain HTTP', { timeout: 60_000 }, async () => {
    const tokens = join(tempDir('tokens'), 'tokens');
    writeFileSync(tokens, 'scrape-0123456789abcdef metrics\n');
    const r = await runCli(
      [
        'serve',
        '--capture=false',
        '--kubernetes',
        'off',
        '--listen',
        '0.0.0.0',
        '--port',
        '0',
        '--auth-token-file',
        tokens,
        '--tls',
        'off',
      ],
      { env: { ASYMROUTE_CONFIG: '' } },
    );
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/--tls off with --auth tokens on --listen "0\.0\.0\.0": bearer tokens would cross the network in clear/);
  });

  it('starts with --insecure-no-auth and says so in a warning', { timeout: 60_000 }, async () => {
    const { port, logs } = await serve(['--kubernetes', 'off', '--listen', '0.0.0.0', '--insecure-no-auth']);
    expect(logged(logs, 'insecure-no-auth')[0]).toMatchObject({
      level: 'warn',
      message: expect.stringMatching(/without authentication on 0\.0\.0\.0/),
    });
    expect(logged(logs, 'listening')[0]).toMatchObject({ scheme: 'http', auth: 'none' });
    expect((await get(`http://127.0.0.1:${port}/v1/findings`)).status).toBe(200);
  });
});

describe('the probe port', () => {
  it('answers the probes over plain HTTP without a token while the API port wants HTTPS and one', { timeout: 60_000 }, async () => {
    const tokens = join(tempDir('tokens'), 'tokens');
    writeFileSync(tokens, 'scrape-0123456789abcdef metrics\n');
    // A port that was free a moment ago (the kernel hands out ports in rotation, so it is not handed out again at once).
    const spare = createServer();
    await new Promise<void>((r) => spare.listen({ host: '127.0.0.1', port: 0 }, r));
    const probePort = (spare.address() as AddressInfo).port;
    await new Promise((r) => spare.close(r));
    const { port, logs } = await serve([
      '--kubernetes',
      'off',
      '--auth-token-file',
      tokens,
      '--tls',
      'on',
      '--probe-port',
      String(probePort),
    ]);
    expect(logged(logs, 'listening')[0]).toMatchObject({ scheme: 'https', auth: 'tokens', probePort });
    await until(async () => (await get(`http://127.0.0.1:${probePort}/readyz`)).status === 200, 'ready on the probe port', 30_000);
    const health = await get(`http://127.0.0.1:${probePort}/healthz`);
    expect([health.status, health.json()['status']]).toEqual([200, 'ok']);
    expect((await get(`http://127.0.0.1:${probePort}/metrics`)).status).toBe(404);
    // The API port: HTTPS, and a token for everything but the probes.
    await expect(get(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
    const ca = (await presented(port)).pem;
    expect((await get(`https://127.0.0.1:${port}/metrics`, { ca })).status).toBe(401);
    expect((await get(`https://127.0.0.1:${port}/metrics`, { ca, token: 'scrape-0123456789abcdef' })).status).toBe(200);
  });

  it('refuses to start when the probe port is taken, naming it', { timeout: 60_000 }, async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen({ host: '127.0.0.1', port: 0 }, r));
    onTestFinished(() => void taken.close());
    const busy = (taken.address() as AddressInfo).port;
    const r = await runCli(['serve', '--capture=false', '--kubernetes', 'off', '--port', '0', '--probe-port', String(busy)], {
      env: { ASYMROUTE_CONFIG: '' },
    });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(`--probe-port ${busy}: cannot listen on 127.0.0.1:${busy}: listen EADDRINUSE`);
  });
});
