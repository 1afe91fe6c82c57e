// Events on Services, against a local API that records what it is sent.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, expect, it } from 'vitest';
import { ServiceEvents } from '../../agent/kubernetes/events.js';

let api: Server | null = null;
afterEach(async () => {
  api?.closeAllConnections();
  await new Promise((r) => api?.close(r) ?? r(undefined));
  api = null;
});

it('posts a Warning when a Service turns asymmetric and a Normal when it clears, deduplicated and rate-limited', async () => {
  const posts: Array<{ url: string; auth: string; body: Record<string, unknown> }> = [];
  api = createServer((req, res) => {
    let data = '';
    req.on('data', (d) => (data += d));
    req.on('end', () => {
      posts.push({ url: `${req.method} ${req.url}`, auth: String(req.headers.authorization), body: JSON.parse(data) });
      res.writeHead(201, { 'content-type': 'application/json' }).end(data);
    });
  });
  await new Promise<void>((r) => api!.listen(0, '127.0.0.1', r));
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 't', server: `http://127.0.0.1:${(api.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'tok' }],
    contexts: [{ name: 'c', cluster: 't', user: 'u' }],
    currentContext: 'c',
  });
  let now = 1_000_000;
  const ev = new ServiceEvents({ kubeconfig: kc, node: 'node1', minIntervalMs: 60_000, now: () => now });
  const raise = { service: 'shop/web', reason: 'AsymmetricReplyPath' as const, message: 'on node node1: replies leave on eth0' };
  const clear = { service: 'shop/web', reason: 'ReplyPathRestored' as const, message: 'restored' };

  expect(await ev.report(clear)).toBe(false); // nothing to clear yet
  expect(await ev.report(raise)).toBe(true);
  expect(await ev.report(raise)).toBe(false); // still the same state: no duplicate
  now += 1000;
  expect(await ev.report(clear)).toBe(true);
  now += 1000;
  expect(await ev.report(raise)).toBe(false); // flapping within a minute: rate-limited
  now += 60_000;
  expect(await ev.report(raise)).toBe(true);

  expect(posts.map((p) => [p.url, p.body['reason'], p.body['type']])).toEqual([
    ['POST /api/v1/namespaces/shop/events', 'AsymmetricReplyPath', 'Warning'],
    ['POST /api/v1/namespaces/shop/events', 'ReplyPathRestored', 'Normal'],
    ['POST /api/v1/namespaces/shop/events', 'AsymmetricReplyPath', 'Warning'],
  ]);
  expect(posts[0]!.auth).toBe('Bearer tok');
  expect(posts[0]!.body).toMatchObject({
    kind: 'Event',
    involvedObject: { kind: 'Service', namespace: 'shop', name: 'web' },
    source: { component: 'asymroute', host: 'node1' },
    message: 'on node node1: replies leave on eth0',
  });
  expect(ev.suppressed).toBe(1);
});

it('reports a refused Event and does not count it as posted', async () => {
  api = createServer((_req, res) =>
    res.writeHead(403, { 'content-type': 'application/json' }).end('{"kind":"Status","code":403,"reason":"Forbidden"}'),
  );
  await new Promise<void>((r) => api!.listen(0, '127.0.0.1', r));
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 't', server: `http://127.0.0.1:${(api.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'tok' }],
    contexts: [{ name: 'c', cluster: 't', user: 'u' }],
    currentContext: 'c',
  });
  const errors: string[] = [];
  const ev = new ServiceEvents({ kubeconfig: kc, node: 'n', onError: (e) => errors.push(e) });
  expect(await ev.report({ service: 'a/b', reason: 'AsymmetricReplyPath', message: 'm' })).toBe(false);
  expect(errors[0]).toMatch(/HTTP 403/);
  expect(ev.posted).toBe(0);
});
