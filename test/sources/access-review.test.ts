// The Kubernetes auth mode's reviews against the local API (test/helpers/kube-api.ts): the request bodies, concurrent
// requests sharing one review, the bounded decision cache, and an API that fails or hangs (503, never allowed).

import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { selfSignedFiles } from '../helpers/openssl.js';
import { DecisionCache, KubernetesAuthorizer, type Decision } from '../../agent/exposition/auth.js';
import { accessReviewer } from '../../agent/kubernetes/access-review.js';
import { kubeRequest, loadKubeConfig } from '../../agent/kubernetes/api.js';
import { tempDir } from '../helpers/tmp.js';
import { startKubeApi, type KubeApi } from '../helpers/kube-api.js';

const PROM = { username: 'system:serviceaccount:monitoring:prometheus', uid: 'u1', groups: ['system:serviceaccounts'] };

async function setup(opts: { timeoutMs?: number; cache?: DecisionCache<Decision> } = {}) {
  const api = await startKubeApi();
  api.rules.set(PROM.username, [{ nonResourceURLs: ['/metrics'], verbs: ['get'] }]);
  const kc = loadKubeConfig(api.kubeconfig)!;
  const auth = new KubernetesAuthorizer(accessReviewer(kc, opts.timeoutMs ?? 5000), 'node-a', () => undefined, opts.cache);
  return { api, auth };
}

const count = (api: KubeApi, kind: string) => api.requests.filter((r) => r.path.endsWith(`/${kind}`)).length;

describe('KubernetesAuthorizer with the API', () => {
  it('shares one review among concurrent requests with the same token and permission', async () => {
    const { api, auth } = await setup();
    api.tokens.set('prom-token', PROM);
    const all = await Promise.all(Array.from({ length: 50 }, () => auth.authorize('prom-token', 'metrics')));
    expect(all.every((d) => d.ok)).toBe(true);
    expect([count(api, 'tokenreviews'), count(api, 'subjectaccessreviews')]).toEqual([1, 1]);
    // Another permission is another review.
    expect(await auth.authorize('prom-token', 'report')).toMatchObject({ ok: false, code: 403 });
    expect([count(api, 'tokenreviews'), count(api, 'subjectaccessreviews')]).toEqual([2, 2]);
  });

  it('keeps at most its capacity of decisions however many tokens arrive', async () => {
    const cache = new DecisionCache<Decision>(8);
    const { api, auth } = await setup({ cache });
    for (let i = 0; i < 200; i++) expect(await auth.authorize(`random-token-${i}`, 'metrics')).toMatchObject({ ok: false, code: 401 });
    expect(cache.size).toBe(8);
    expect(cache.evictions).toBe(192);
    expect(count(api, 'tokenreviews')).toBe(200);
    // The last ones are still cached, the first ones are not.
    await auth.authorize('random-token-199', 'metrics');
    expect(count(api, 'tokenreviews')).toBe(200);
    await auth.authorize('random-token-0', 'metrics');
    expect(count(api, 'tokenreviews')).toBe(201);
  });

  it('answers 503 when the API fails, refuses it or hangs, and caches none of it', async () => {
    const { api, auth } = await setup({ timeoutMs: 300 });
    api.tokens.set('prom-token', PROM);
    api.failWith = 503;
    expect(await auth.authorize('prom-token', 'metrics')).toMatchObject({ ok: false, code: 503, error: expect.stringMatching(/HTTP 503/) });
    api.failWith = null;
    api.stall = true;
    expect(await auth.authorize('prom-token', 'metrics')).toMatchObject({
      ok: false,
      code: 503,
      error: expect.stringMatching(/no answer within 300 ms/),
    });
    api.stall = false;
    expect(await auth.authorize('prom-token', 'metrics')).toEqual({ ok: true, user: PROM.username });
    await api.close();
    expect(await auth.authorize('prom-token', 'report')).toMatchObject({
      ok: false,
      code: 503,
      error: expect.stringMatching(/ECONNREFUSED/),
    });
  });
});

describe('requests to an HTTPS API server', () => {
  it("verify it with the kubeconfig's CA, for lists and reviews alike, and refuse another certificate", async () => {
    const dir = tempDir('https-api');
    const cert = async (tag: string) => {
      const f = await selfSignedFiles(dir, tag, { san: 'IP:127.0.0.1' });
      return { key: readFileSync(f.key), cert: readFileSync(f.cert) };
    };
    const serving = await cert('apiserver');
    const other = await cert('other');
    const seen: string[] = [];
    const server = createServer(serving, (req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers.authorization}`);
      res.setHeader('content-type', 'application/json');
      if (req.method === 'GET')
        return void res.end(JSON.stringify({ kind: 'ServiceList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items: [] }));
      res.writeHead(201).end(
        JSON.stringify({
          kind: 'TokenReview',
          apiVersion: 'authentication.k8s.io/v1',
          status: { authenticated: true, user: { username: 'alice' } },
        }),
      );
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    onTestFinished(() => void server.close());
    const port = (server.address() as AddressInfo).port;
    const kubeconfig = (ca: Buffer) => {
      const f = join(dir, `kc-${seen.length}-${ca.length}`);
      writeFileSync(
        f,
        `apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:${port}\n    certificate-authority-data: ${ca.toString('base64')}\nusers:\n- name: u\n  user:\n    token: sa-token\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\n`,
      );
      return loadKubeConfig(f)!;
    };
    const good = kubeconfig(serving.cert);
    expect(await (await kubeRequest(good, 'GET', '/api/v1/services', { timeoutMs: 5000 })).json()).toMatchObject({ kind: 'ServiceList' });
    expect(await accessReviewer(good).tokenReview('x')).toEqual({ authenticated: true, user: { username: 'alice' } });
    expect(seen).toEqual(['GET /api/v1/services Bearer sa-token', 'POST /apis/authentication.k8s.io/v1/tokenreviews Bearer sa-token']);
    const bad = kubeconfig(other.cert);
    await expect(kubeRequest(bad, 'GET', '/api/v1/services', { timeoutMs: 5000 })).rejects.toThrow(/self.signed certificate/);
    await expect(accessReviewer(bad).tokenReview('x')).rejects.toThrow(/self.signed certificate/);
    expect(seen).toHaveLength(2);
  });
});
