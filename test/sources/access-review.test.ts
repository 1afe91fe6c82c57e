// The Kubernetes auth mode's reviews against the local API (test/helpers/kube-api.ts): the request bodies, concurrent
// requests sharing one review, the bounded decision cache, and an API that fails or hangs (503, never allowed).

import { describe, expect, it } from 'vitest';
import { DecisionCache, KubernetesAuthorizer, type Decision } from '../../agent/exposition/auth.js';
import { accessReviewer } from '../../agent/kubernetes/access-review.js';
import { loadKubeConfig } from '../../agent/kubernetes/api.js';
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
