// Who may read what on the HTTP API: the permission each path needs, and the two ways of deciding it (a file of
// static bearer tokens with scopes, or the Kubernetes API's TokenReview + SubjectAccessReview, as kube-rbac-proxy).

import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { Counter, type Registry } from 'prom-client';

/** The permissions of the API; /healthz and /readyz need none. */
export type Permission = 'metrics' | 'report' | 'capture' | 'capture-payloads';

export const PERMISSIONS: readonly Permission[] = ['metrics', 'report', 'capture', 'capture-payloads'];

/** A SubjectAccessReview's attributes, as authorization.k8s.io/v1 spells them. */
export type AccessAttributes =
  | { nonResourceAttributes: { path: string; verb: string } }
  | { resourceAttributes: { group: string; resource: string; subresource?: string; name: string; verb: string } };

export const API_GROUP = 'asymroute.io';

/** The Kubernetes permission behind each of ours; `name` is the node, so a Role can be narrowed to some nodes. */
export function kubernetesAttributes(p: Permission, node: string): AccessAttributes {
  switch (p) {
    case 'metrics':
      return { nonResourceAttributes: { path: '/metrics', verb: 'get' } };
    case 'report':
      return { resourceAttributes: { group: API_GROUP, resource: 'reports', name: node, verb: 'get' } };
    case 'capture':
      return { resourceAttributes: { group: API_GROUP, resource: 'captures', name: node, verb: 'get' } };
    case 'capture-payloads':
      return { resourceAttributes: { group: API_GROUP, resource: 'captures', subresource: 'payloads', name: node, verb: 'get' } };
  }
}

/** How an error message names a permission: the RBAC rule that grants it. */
export function describeAttributes(a: AccessAttributes): string {
  if ('nonResourceAttributes' in a) return `${a.nonResourceAttributes.verb} ${a.nonResourceAttributes.path} (nonResourceURLs)`;
  const r = a.resourceAttributes;
  return `${r.verb} ${r.resource}${r.subresource ? `/${r.subresource}` : ''}.${r.group} ${r.name}`;
}

/** The permission a request needs, or null for the probes. Unknown paths need report (their 404 lists endpoints). */
export function permissionFor(path: string, query: Record<string, unknown>): Permission | null {
  if (path === '/healthz' || path === '/readyz') return null;
  if (path === '/metrics') return 'metrics';
  if (path === '/v1/capture') return query['payloads'] === 'true' ? 'capture-payloads' : 'capture';
  return 'report';
}

const RESULTS = { 401: 'unauthenticated', 403: 'forbidden', 503: 'unavailable' } as const;

/** Counts each checked request by permission and outcome: 16 series at most. */
export function authMetrics(registry: Registry): (p: Permission, d: Decision) => void {
  const c = new Counter({
    name: 'asymroute_http_auth_total',
    help: 'Requests whose bearer token was checked (every path but /healthz and /readyz, with --auth tokens or kubernetes), by the permission needed and the result: allowed, unauthenticated (401), forbidden (403) or unavailable (503: the Kubernetes API could not decide).',
    labelNames: ['permission', 'result'],
    registers: [registry],
  });
  return (p, d) => c.inc({ permission: p, result: d.ok ? 'allowed' : RESULTS[d.code] });
}

export type Decision = { ok: true; user: string } | { ok: false; code: 401 | 403 | 503; error: string; permission?: string; user?: string };

export interface Authorizer {
  readonly mode: 'tokens' | 'kubernetes';
  authorize(token: string | null, p: Permission): Promise<Decision>;
}

/** The token of an `Authorization: Bearer ...` header; null when absent or of another scheme. */
export function bearerToken(header: string | undefined): string | null {
  const m = /^Bearer +([^\s]+) *$/i.exec(header ?? '');
  return m ? m[1]! : null;
}

/**
 * The API server's pod proxy removes `Authorization` once it has authenticated the caller, so `asymroute cluster`
 * sends the agent's token in this header instead (the proxy passes it on); `Authorization` wins when both are set.
 */
export const PROXIED_AUTHORIZATION = 'x-asymroute-authorization';

export function requestToken(headers: Record<string, string | string[] | undefined>): string | null {
  const direct = headers['authorization'];
  if (typeof direct === 'string') return bearerToken(direct);
  const proxied = headers[PROXIED_AUTHORIZATION];
  return typeof proxied === 'string' ? bearerToken(proxied) : null;
}

const hashToken = (t: string) => createHash('sha256').update(t).digest();

/**
 * Decisions by key for a short time, at most `capacity` of them: least recently used evicted first, expired ones
 * dropped when met. The keys are hashes, so no token is kept.
 */
export class DecisionCache<V> {
  private readonly map = new Map<string, { value: V; until: number }>();
  evictions = 0;

  constructor(
    readonly capacity: number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.map.size;
  }

  get(key: string): V | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    this.map.delete(key);
    if (e.until <= this.now()) return undefined;
    this.map.set(key, e);
    return e.value;
  }

  set(key: string, value: V, ttlMs: number): void {
    this.map.delete(key);
    while (this.map.size >= this.capacity) {
      const oldest = this.map.keys().next().value as string;
      this.map.delete(oldest);
      this.evictions++;
    }
    this.map.set(key, { value, until: this.now() + ttlMs });
  }
}

export interface StaticToken {
  hash: Buffer;
  name: string;
  scopes: ReadonlySet<Permission>;
}

/** The token file: `TOKEN SCOPE[,SCOPE...] [NAME]` per line, # comments; a bad line is an error naming its number. */
export function parseTokenFile(text: string): StaticToken[] {
  const out: StaticToken[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) return;
    const [token, scopeList, name, ...rest] = line.split(/\s+/);
    if (!token || !scopeList || rest.length > 0) throw new Error(`line ${i + 1}: expected TOKEN SCOPE[,SCOPE...] [NAME]`);
    if (token.length < 16) throw new Error(`line ${i + 1}: a token must have at least 16 characters`);
    const scopes = new Set<Permission>();
    for (const s of scopeList.split(',')) {
      if (!(PERMISSIONS as readonly string[]).includes(s))
        throw new Error(`line ${i + 1}: unknown scope ${JSON.stringify(s)} (expected ${PERMISSIONS.join(', ')})`);
      scopes.add(s as Permission);
    }
    out.push({ hash: hashToken(token), name: name ?? `token on line ${i + 1}`, scopes });
  });
  return out;
}

/** Static tokens from a file, re-read when its mtime, size or inode changes (checked at most once a second). */
export class TokenFileAuthorizer implements Authorizer {
  readonly mode = 'tokens' as const;
  private tokens: StaticToken[];
  private stamp: string;
  private checkedAt = 0;

  constructor(
    private readonly path: string,
    private readonly log: (rec: Record<string, unknown>) => void = () => undefined,
    private readonly now: () => number = Date.now,
  ) {
    this.stamp = this.fileStamp();
    this.tokens = parseTokenFile(readFileSync(path, 'utf8'));
    if (this.tokens.length === 0) throw new Error(`${path}: no tokens`);
  }

  private fileStamp(): string {
    const s = statSync(this.path);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  }

  /** Keeps the last good tokens when the file is unreadable or wrong, and says so once per change of the file. */
  private reload(): void {
    if (this.now() - this.checkedAt < 1000) return;
    this.checkedAt = this.now();
    let stamp: string;
    try {
      stamp = this.fileStamp();
    } catch (e) {
      stamp = `error:${(e as Error).message}`;
    }
    if (stamp === this.stamp) return;
    this.stamp = stamp;
    try {
      this.tokens = parseTokenFile(readFileSync(this.path, 'utf8'));
      this.log({ event: 'auth-tokens-reloaded', file: this.path, tokens: this.tokens.length });
    } catch (e) {
      this.log({ event: 'auth-tokens-reload-failed', file: this.path, error: (e as Error).message, keeping: this.tokens.length });
    }
  }

  async authorize(token: string | null, p: Permission): Promise<Decision> {
    if (token === null) return { ok: false, code: 401, error: 'authentication required: send Authorization: Bearer TOKEN' };
    this.reload();
    const h = hashToken(token);
    const t = this.tokens.find((x) => timingSafeEqual(x.hash, h));
    if (!t) return { ok: false, code: 401, error: 'invalid bearer token' };
    if (!t.scopes.has(p))
      return { ok: false, code: 403, user: t.name, permission: p, error: `${t.name} lacks the scope ${p} in ${this.path}` };
    return { ok: true, user: t.name };
  }
}

/** What TokenReview says about a token. */
export type TokenReviewResult =
  | { authenticated: true; user: { username: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> } }
  | { authenticated: false; error: string };

/** What SubjectAccessReview says: allowed, or why not. */
export interface AccessReviewResult {
  allowed: boolean;
  denied?: boolean;
  reason?: string;
}

/** The API calls the Kubernetes mode makes; they throw when the API server cannot answer (no decision: 503). */
export interface AccessReviewer {
  tokenReview(token: string): Promise<TokenReviewResult>;
  accessReview(user: Extract<TokenReviewResult, { authenticated: true }>['user'], attrs: AccessAttributes): Promise<AccessReviewResult>;
}

export const REVIEW_CACHE = { capacity: 4096, allowedMs: 60_000, deniedMs: 10_000 };

/**
 * kube-rbac-proxy's scheme: TokenReview authenticates, SubjectAccessReview authorizes. Answers are cached by hash of
 * token and permission (bounded, short); a failed API call is never cached and never opens the door.
 */
export class KubernetesAuthorizer implements Authorizer {
  readonly mode = 'kubernetes' as const;
  readonly cache: DecisionCache<Decision>;
  /** reviews under way, shared by concurrent requests with the same token and permission (at most one per connection) */
  private readonly inflight = new Map<string, Promise<Decision>>();

  constructor(
    private readonly reviewer: AccessReviewer,
    private readonly node: string,
    private readonly log: (rec: Record<string, unknown>) => void = () => undefined,
    cache: DecisionCache<Decision> = new DecisionCache(REVIEW_CACHE.capacity),
  ) {
    this.cache = cache;
  }

  async authorize(token: string | null, p: Permission): Promise<Decision> {
    if (token === null)
      return {
        ok: false,
        code: 401,
        error: 'authentication required: send Authorization: Bearer TOKEN (a Kubernetes service account token)',
      };
    const key = `${hashToken(token).toString('base64')} ${p}`;
    const hit = this.cache.get(key);
    if (hit) return hit;
    const running = this.inflight.get(key);
    if (running) return running;
    const review = this.review(token, p, key);
    this.inflight.set(key, review);
    try {
      return await review;
    } finally {
      this.inflight.delete(key);
    }
  }

  private async review(token: string, p: Permission, key: string): Promise<Decision> {
    const attrs = kubernetesAttributes(p, this.node);
    let d: Decision;
    try {
      const tr = await this.reviewer.tokenReview(token);
      if (!tr.authenticated) d = { ok: false, code: 401, error: `invalid bearer token: ${tr.error}` };
      else {
        const sar = await this.reviewer.accessReview(tr.user, attrs);
        const permission = describeAttributes(attrs);
        d = sar.allowed
          ? { ok: true, user: tr.user.username }
          : {
              ok: false,
              code: 403,
              user: tr.user.username,
              permission,
              error: `${tr.user.username} may not ${permission}${sar.reason ? `: ${sar.reason}` : ''}`,
            };
      }
    } catch (e) {
      const error = (e as Error).message;
      this.log({ event: 'auth-review-failed', error });
      return { ok: false, code: 503, error: `cannot check the bearer token with the Kubernetes API: ${error}` };
    }
    this.cache.set(key, d, d.ok ? REVIEW_CACHE.allowedMs : REVIEW_CACHE.deniedMs);
    return d;
  }
}
