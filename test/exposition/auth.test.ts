// The auth model without a network: which permission each path needs, the static token file (parsing and reload),
// and the decision cache's bound and expiry.

import { writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  bearerToken,
  DecisionCache,
  describeAttributes,
  kubernetesAttributes,
  parseTokenFile,
  permissionFor,
  requestToken,
  TokenFileAuthorizer,
} from '../../agent/exposition/auth.js';
import { tempDir } from '../helpers/tmp.js';

const METRICS_TOKEN = 'metrics-only-0123456789';
const ALL_TOKEN = 'everything-0123456789abcdef';

describe('permissionFor', () => {
  it('leaves the probes open and asks report of every other path, unknown ones included', () => {
    expect(permissionFor('/healthz', {})).toBeNull();
    expect(permissionFor('/readyz', {})).toBeNull();
    expect(permissionFor('/metrics', {})).toBe('metrics');
    expect(permissionFor('/', {})).toBe('report');
    expect(permissionFor('/v1/flows', {})).toBe('report');
    expect(permissionFor('/v2/nothing', {})).toBe('report');
    expect(permissionFor('/healthz/', {})).toBe('report');
    expect(permissionFor('/v1/capture', {})).toBe('capture');
    expect(permissionFor('/v1/capture', { payloads: 'true' })).toBe('capture-payloads');
    expect(permissionFor('/v1/capture', { payloads: ['true', 'true'] })).toBe('capture');
  });

  it('maps each permission to the RBAC rule that grants it', () => {
    expect(describeAttributes(kubernetesAttributes('metrics', 'n1'))).toBe('get /metrics (nonResourceURLs)');
    expect(describeAttributes(kubernetesAttributes('report', 'n1'))).toBe('get reports.asymroute.io n1');
    expect(describeAttributes(kubernetesAttributes('capture', 'n1'))).toBe('get captures.asymroute.io n1');
    expect(describeAttributes(kubernetesAttributes('capture-payloads', 'n1'))).toBe('get captures/payloads.asymroute.io n1');
  });
});

describe('bearerToken', () => {
  it('takes the token of a Bearer header only', () => {
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('bearer abc')).toBe('abc');
    expect(bearerToken('Basic YWxhZGRpbjpvcGVuc2VzYW1l')).toBeNull();
    expect(bearerToken('Bearer ')).toBeNull();
    expect(bearerToken('Bearer a b')).toBeNull();
    expect(bearerToken(undefined)).toBeNull();
  });

  it("takes the pod proxy's X-Asymroute-Authorization when Authorization is absent, never over it", () => {
    expect(requestToken({ 'x-asymroute-authorization': 'Bearer proxied' })).toBe('proxied');
    expect(requestToken({ authorization: 'Bearer direct', 'x-asymroute-authorization': 'Bearer proxied' })).toBe('direct');
    // A present but malformed Authorization is not replaced by the other header.
    expect(requestToken({ authorization: 'Basic x', 'x-asymroute-authorization': 'Bearer proxied' })).toBeNull();
    expect(requestToken({ 'x-asymroute-authorization': 'proxied' })).toBeNull();
    expect(requestToken({})).toBeNull();
  });
});

describe('token file', () => {
  it('parses tokens, scopes and names, and names the line of a mistake', () => {
    const t = parseTokenFile(`# comment\n${METRICS_TOKEN} metrics prometheus\n\n${ALL_TOKEN} metrics,report,capture  # ops\n`);
    expect(t.map((x) => [x.name, [...x.scopes]])).toEqual([
      ['prometheus', ['metrics']],
      ['token on line 4', ['metrics', 'report', 'capture']],
    ]);
    expect(() => parseTokenFile(`${ALL_TOKEN} metrics,admin`)).toThrow('line 1: unknown scope "admin"');
    expect(() => parseTokenFile(`\nshort metrics`)).toThrow('line 2: a token must have at least 16 characters');
    expect(() => parseTokenFile(`${ALL_TOKEN}`)).toThrow('line 1: expected TOKEN SCOPE');
  });

  it('answers 401 without or with a wrong token, 403 naming the scope, and sees a rewritten file', async () => {
    const dir = tempDir('tokens');
    const f = join(dir, 'tokens');
    writeFileSync(f, `${METRICS_TOKEN} metrics prometheus\n`);
    let now = 0;
    const logs: Array<Record<string, unknown>> = [];
    const a = new TokenFileAuthorizer(
      f,
      (r) => logs.push(r),
      () => now,
    );
    expect(await a.authorize(null, 'metrics')).toMatchObject({ ok: false, code: 401 });
    expect(await a.authorize('wrong-0123456789abc', 'metrics')).toMatchObject({ ok: false, code: 401, error: 'invalid bearer token' });
    expect(await a.authorize(METRICS_TOKEN, 'metrics')).toEqual({ ok: true, user: 'prometheus' });
    expect(await a.authorize(METRICS_TOKEN, 'report')).toMatchObject({ ok: false, code: 403, permission: 'report' });
    // Rotated the way kubelet does it: a new file renamed over the old one.
    writeFileSync(join(dir, 'new'), `${ALL_TOKEN} metrics,report ops\n`);
    renameSync(join(dir, 'new'), f);
    now = 2000;
    expect(await a.authorize(METRICS_TOKEN, 'metrics')).toMatchObject({ ok: false, code: 401 });
    expect(await a.authorize(ALL_TOKEN, 'report')).toEqual({ ok: true, user: 'ops' });
    // A broken file keeps the last good tokens and is reported once.
    writeFileSync(f, 'garbage\n');
    now = 4000;
    expect(await a.authorize(ALL_TOKEN, 'report')).toEqual({ ok: true, user: 'ops' });
    now = 6000;
    expect(await a.authorize(ALL_TOKEN, 'report')).toEqual({ ok: true, user: 'ops' });
    expect(logs.map((l) => l['event'])).toEqual(['auth-tokens-reloaded', 'auth-tokens-reload-failed']);
  });
});

describe('DecisionCache', () => {
  it('holds at most its capacity, evicting the least recently used, and forgets expired entries', () => {
    let now = 0;
    const c = new DecisionCache<number>(3, () => now);
    for (let i = 0; i < 10_000; i++) c.set(`k${i}`, i, 1000);
    expect(c.size).toBe(3);
    expect(c.evictions).toBe(9997);
    expect([c.get('k9997'), c.get('k9998'), c.get('k9999'), c.get('k0')]).toEqual([9997, 9998, 9999, undefined]);
    // Reading k9997 and k9999 leaves k9998 the least recently used.
    c.get('k9997');
    c.get('k9999');
    c.set('new', 1, 1000);
    expect(c.get('k9998')).toBeUndefined();
    expect(c.get('k9997')).toBe(9997);
    now = 1000;
    expect(c.get('new')).toBeUndefined();
    expect(c.size).toBe(2);
  });
});
