// A local Kubernetes API server for the agent's tests, answering like the real one: list + watch by path (label
// selectors included), TokenReview (authentication.k8s.io/v1) and SubjectAccessReview (authorization.k8s.io/v1) with
// 201 Created and the same bodies, TokenRequest for service accounts, the pod proxy, a small RBAC evaluator behind
// SubjectAccessReview and in front of every request by a user other than the agent, Status objects for errors, and
// switches that make it fail (5xx) or vanish. Plain http: the kubeconfig sets insecure-skip-tls-verify, which
// client-node requires.

import { writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { tempDir } from './tmp.js';

/** The agent's own service account token, which the API expects on every request. */
export const AGENT_TOKEN = 't0k3n';

export interface KubeUser {
  username: string;
  uid: string;
  groups: string[];
}

/** An RBAC PolicyRule as a ClusterRole holds it. */
export type PolicyRule =
  { nonResourceURLs: string[]; verbs: string[] } | { apiGroups: string[]; resources: string[]; resourceNames?: string[]; verbs: string[] };

export interface ApiRequest {
  method: string;
  path: string;
  /** the query string, with its "?" ("" when none) */
  search: string;
  authorization: string | undefined;
  body: unknown;
}

export interface KubeApi {
  url: string;
  /** a kubeconfig file for this server with the agent's token */
  kubeconfig: string;
  /** every request, in order */
  requests: ApiRequest[];
  /** GET answers by path (lists; a ?watch=true request stays open and silent) */
  lists: Record<string, unknown>;
  /** bearer token -> user, for TokenReview */
  tokens: Map<string, KubeUser>;
  /** username -> rules granted (the union of its ClusterRoleBindings), for SubjectAccessReview */
  rules: Map<string, PolicyRule[]>;
  /** "namespace/name" of the service accounts TokenRequest may issue tokens for */
  serviceAccounts: Set<string>;
  /** "podIP:port" -> a Unix socket that reaches the pod's port: what the pod proxy dials (absent: connection refused) */
  podDial: Map<string, string>;
  /** non-null: every request is answered with this HTTP status and a Status body */
  failWith: number | null;
  /** true: requests are read and never answered (an API server that hangs) */
  stall: boolean;
  /** sends a watch event to the open watches of a list path (their fieldSelector applied); returns how many got it */
  emit(path: string, type: 'ADDED' | 'MODIFIED' | 'DELETED', object: unknown): number;
  /** stops listening: from now on connections are refused */
  close(): Promise<void>;
}

const status = (code: number, reason: string, message: string) => ({
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Failure',
  message,
  reason,
  details: {},
  code,
});

function readBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        resolve(text ? JSON.parse(text) : undefined);
      } catch {
        resolve(text);
      }
    });
  });
}

type Attrs = {
  resourceAttributes?: { group?: string; resource?: string; subresource?: string; name?: string; verb?: string };
  nonResourceAttributes?: { path?: string; verb?: string };
};

const has = (list: string[], v: string) => list.includes('*') || list.includes(v);

// RBAC's rule matching (k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac): resource "res/sub" for a subresource,
// resourceNames restrict by name, nonResourceURLs match exactly or by a trailing "*".
function ruleAllows(r: PolicyRule, a: Attrs): boolean {
  if (a.nonResourceAttributes) {
    if (!('nonResourceURLs' in r)) return false;
    const path = a.nonResourceAttributes.path ?? '';
    const urlOk = r.nonResourceURLs.some((u) => u === '*' || u === path || (u.endsWith('*') && path.startsWith(u.slice(0, -1))));
    return urlOk && has(r.verbs, a.nonResourceAttributes.verb ?? '');
  }
  const ra = a.resourceAttributes;
  if (!ra || !('resources' in r)) return false;
  const resource = ra.subresource ? `${ra.resource}/${ra.subresource}` : (ra.resource ?? '');
  return (
    has(r.verbs, ra.verb ?? '') &&
    has(r.apiGroups, ra.group ?? '') &&
    has(r.resources, resource) &&
    (!r.resourceNames || r.resourceNames.length === 0 || r.resourceNames.includes(ra.name ?? ''))
  );
}

/** RBAC attributes of a request, as the API server's request-info resolver derives them from the path. */
function requestAttrs(method: string, url: URL): Attrs {
  const m = /^\/(?:api\/v1|apis\/([^/]+)\/[^/]+)(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?(?:\/([^/]+))?/.exec(url.pathname);
  if (!m) return { nonResourceAttributes: { path: url.pathname, verb: method.toLowerCase() } };
  const [, group = '', , resource, rawName, subresource] = m;
  // The pod proxy names the pod as name, name:port or scheme:name:port.
  const parts = rawName?.split(':') ?? [];
  const name = rawName && subresource === 'proxy' ? parts[parts.length === 3 ? 1 : 0] : rawName;
  const verb =
    method === 'POST'
      ? 'create'
      : method !== 'GET'
        ? method.toLowerCase()
        : !name
          ? url.searchParams.get('watch') === 'true'
            ? 'watch'
            : 'list'
          : 'get';
  return { resourceAttributes: { group, resource, ...(subresource ? { subresource } : {}), ...(name ? { name } : {}), verb } };
}

// Equality-based label selectors (k=v, k==v, k!=v, k, !k), comma-separated: what the tests' callers send.
function selects(selector: string, labels: Record<string, string>): boolean {
  return selector
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean)
    .every((t) => {
      const ne = /^([^!=]+)!=(.*)$/.exec(t);
      if (ne) return labels[ne[1]!.trim()] !== ne[2]!.trim();
      const eq = /^([^!=]+)==?(.*)$/.exec(t);
      if (eq) return labels[eq[1]!.trim()] === eq[2]!.trim();
      if (t.startsWith('!')) return !(t.slice(1) in labels);
      return t in labels;
    });
}

type PodObject = {
  metadata?: { name?: string; namespace?: string };
  status?: { podIP?: string };
  spec?: { containers?: Array<{ ports?: Array<{ containerPort?: number }> }> };
};

// The pod proxy (pkg/registry/core/pod/rest/subresources.go): the caller's Authorization header is gone (the
// authentication filter removes it), the pod is dialled at podIP:port, https without verifying the certificate,
// and a failed dial is 503 "error trying to reach service: ..." (apimachinery's proxy transport).
function podProxy(
  api: KubeApiState,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  send: (code: number, b: unknown) => void,
): boolean {
  const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/proxy(\/.*)?$/.exec(url.pathname);
  if (!m) return false;
  const [, ns, spec, rest = '/'] = m;
  const parts = spec!.split(':');
  const [scheme, name, port] = parts.length === 3 ? parts : parts.length === 2 ? ['http', parts[0], parts[1]] : ['http', parts[0], ''];
  const pods = ((api.lists['/api/v1/pods'] as { items?: PodObject[] } | undefined)?.items ?? []).filter(
    (p) => p.metadata?.namespace === ns && p.metadata?.name === name,
  );
  if (pods.length === 0) return (send(404, status(404, 'NotFound', `pods "${name}" not found`)), true);
  const pod = pods[0]!;
  const ip = pod.status?.podIP;
  if (!ip) return (send(400, status(400, 'BadRequest', 'address not allowed')), true);
  const p = port || String(pod.spec?.containers?.flatMap((c) => c.ports ?? [])[0]?.containerPort ?? 80);
  const target = api.podDial.get(`${ip}:${p}`);
  const unreachable = (why: string) => send(503, status(503, 'ServiceUnavailable', `error trying to reach service: ${why}`));
  if (!target) return (unreachable(`dial tcp ${ip}:${p}: connect: connection refused`), true);
  const headers = { ...req.headers, host: `${ip}:${p}` };
  delete headers.authorization;
  delete headers.connection;
  const request = scheme === 'https' ? httpsRequest : httpRequest;
  const up = request(
    { socketPath: target, method: req.method, path: `${rest}${url.search}`, headers, rejectUnauthorized: false },
    (answer) => {
      res.removeHeader('content-type');
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  up.setTimeout(30_000, () => up.destroy(new Error('net/http: timeout awaiting response headers')));
  up.on('error', (e) => (res.headersSent ? res.destroy() : unreachable(e.message)));
  up.end();
  return true;
}

// fieldSelector on metadata.name / metadata.namespace (=, ==, !=, comma-joined), the fields every resource supports.
function fieldSelected(selector: string | null, o: unknown): boolean {
  const md = ((o as { metadata?: Record<string, unknown> } | null)?.metadata ?? {}) as Record<string, unknown>;
  for (const term of selector ? selector.split(',') : []) {
    const m = /^metadata\.(name|namespace)(!=|==|=)(.*)$/.exec(term);
    if (!m) continue;
    if ((md[m[1]!] === m[3]) !== (m[2] !== '!=')) return false;
  }
  return true;
}

type KubeApiState = Omit<KubeApi, 'url' | 'kubeconfig' | 'close'>;

/**
 * Starts the server on 127.0.0.1 (and on `socket`, a Unix socket path, when given: namespaces reach it through a
 * bridge); it is closed when the test that started it finishes.
 */
export async function startKubeApi(opts: { lists?: Record<string, unknown>; socket?: string } = {}): Promise<KubeApi> {
  const watches = new Map<string, Set<{ res: ServerResponse; selector: string | null }>>();
  const api: KubeApiState = {
    requests: [],
    lists: opts.lists ?? {},
    tokens: new Map(),
    rules: new Map(),
    serviceAccounts: new Set(),
    podDial: new Map(),
    failWith: null,
    stall: false,
    emit: (path, type, object) => {
      const open = [...(watches.get(path) ?? [])].filter((w) => fieldSelected(w.selector, object));
      for (const w of open) w.res.write(`${JSON.stringify({ type, object })}\n`);
      return open.length;
    },
  };
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const body = await readBody(req);
      const url = new URL(req.url!, 'http://x');
      api.requests.push({ method: req.method!, path: url.pathname, search: url.search, authorization: req.headers.authorization, body });
      res.setHeader('content-type', 'application/json');
      const send = (code: number, b: unknown) => void res.writeHead(code).end(JSON.stringify(b));
      if (api.stall) return;
      if (api.failWith !== null) return send(api.failWith, status(api.failWith, 'InternalError', 'the test made the API fail'));
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      const caller = bearer === AGENT_TOKEN ? null : bearer ? api.tokens.get(bearer) : undefined;
      if (caller === undefined) return send(401, status(401, 'Unauthorized', 'Unauthorized'));
      // The agent's own account may do anything here; other users only what their rules allow.
      if (caller) {
        const a = requestAttrs(req.method!, url);
        if (!(api.rules.get(caller.username) ?? []).some((r) => ruleAllows(r, a))) {
          const ra = a.resourceAttributes;
          const what = ra
            ? `resource "${ra.subresource ? `${ra.resource}/${ra.subresource}` : ra.resource}" in API group "${ra.group}"`
            : `path "${url.pathname}"`;
          return send(
            403,
            status(
              403,
              'Forbidden',
              `${ra?.resource ?? 'path'} is forbidden: User "${caller.username}" cannot ${ra?.verb ?? 'get'} ${what}`,
            ),
          );
        }
      }
      if (podProxy(api, req, res, url, send)) return;
      const sa = /^\/api\/v1\/namespaces\/([^/]+)\/serviceaccounts\/([^/]+)\/token$/.exec(url.pathname);
      if (req.method === 'POST' && sa) {
        const tb = (body ?? {}) as { apiVersion?: string; kind?: string; spec?: { expirationSeconds?: number } };
        if (tb.apiVersion !== 'authentication.k8s.io/v1' || tb.kind !== 'TokenRequest')
          return send(400, status(400, 'BadRequest', 'expected a TokenRequest'));
        if (!api.serviceAccounts.has(`${sa[1]}/${sa[2]}`))
          return send(404, status(404, 'NotFound', `serviceaccounts "${sa[2]}" not found`));
        const seconds = tb.spec?.expirationSeconds ?? 3600;
        if (seconds < 600)
          return send(
            422,
            status(422, 'Invalid', 'spec.expirationSeconds: Invalid value: may not specify a duration less than 10 minutes'),
          );
        const token = `sa-${sa[1]}-${sa[2]}-${api.requests.length}`;
        api.tokens.set(token, {
          username: `system:serviceaccount:${sa[1]}:${sa[2]}`,
          uid: `uid-${sa[2]}`,
          groups: ['system:serviceaccounts', `system:serviceaccounts:${sa[1]}`, 'system:authenticated'],
        });
        return send(201, {
          kind: 'TokenRequest',
          apiVersion: 'authentication.k8s.io/v1',
          metadata: { name: sa[2], namespace: sa[1], creationTimestamp: null },
          spec: { audiences: ['https://kubernetes.default.svc.cluster.local'], expirationSeconds: seconds, boundObjectRef: null },
          status: { token, expirationTimestamp: new Date(Date.now() + seconds * 1000).toISOString() },
        });
      }
      const b = (body ?? {}) as { apiVersion?: string; kind?: string; spec?: Record<string, unknown> };
      if (req.method === 'POST' && url.pathname === '/apis/authentication.k8s.io/v1/tokenreviews') {
        if (b.apiVersion !== 'authentication.k8s.io/v1' || b.kind !== 'TokenReview' || typeof b.spec?.['token'] !== 'string')
          return send(400, status(400, 'BadRequest', 'expected a TokenReview with spec.token'));
        const user = api.tokens.get(b.spec['token']);
        return send(201, {
          kind: 'TokenReview',
          apiVersion: 'authentication.k8s.io/v1',
          metadata: { creationTimestamp: null },
          spec: b.spec,
          status: user
            ? { authenticated: true, user, audiences: ['https://kubernetes.default.svc.cluster.local'] }
            : { user: {}, error: '[invalid bearer token, token lookup failed]' },
        });
      }
      if (req.method === 'POST' && url.pathname === '/apis/authorization.k8s.io/v1/subjectaccessreviews') {
        const spec = (b.spec ?? {}) as Attrs & { user?: string; groups?: string[] };
        if (b.apiVersion !== 'authorization.k8s.io/v1' || b.kind !== 'SubjectAccessReview' || !spec.user)
          return send(400, status(400, 'BadRequest', 'expected a SubjectAccessReview with spec.user'));
        if (!spec.resourceAttributes === !spec.nonResourceAttributes)
          return send(
            422,
            status(
              422,
              'Invalid',
              'SubjectAccessReview.authorization.k8s.io "" is invalid: exactly one of nonResourceAttributes or resourceAttributes must be specified',
            ),
          );
        const allowed = (api.rules.get(spec.user) ?? []).some((r) => ruleAllows(r, spec));
        return send(201, {
          kind: 'SubjectAccessReview',
          apiVersion: 'authorization.k8s.io/v1',
          metadata: { creationTimestamp: null },
          spec: b.spec,
          status: allowed ? { allowed: true, reason: `RBAC: allowed by ClusterRoleBinding of ${spec.user}` } : { allowed: false },
        });
      }
      const nsPods = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(url.pathname);
      const all = api.lists['/api/v1/pods'] as { items?: PodObject[] } | undefined;
      const list =
        api.lists[url.pathname] ??
        (nsPods && all ? { ...all, items: (all.items ?? []).filter((p) => p.metadata?.namespace === nsPods[1]) } : undefined);
      if (req.method === 'GET' && list) {
        const fields = url.searchParams.get('fieldSelector');
        if (url.searchParams.get('watch') === 'true') {
          const w = { res, selector: fields };
          watches.set(url.pathname, (watches.get(url.pathname) ?? new Set()).add(w));
          res.on('close', () => watches.get(url.pathname)?.delete(w));
          return void res.writeHead(200).flushHeaders();
        }
        const labels = url.searchParams.get('labelSelector');
        const l = list as { items?: Array<{ metadata?: { labels?: Record<string, string> } }> };
        if (!Array.isArray(l.items)) return send(200, list);
        return send(200, {
          ...l,
          items: l.items.filter((o) => fieldSelected(fields, o) && (!labels || selects(labels, o.metadata?.labels ?? {}))),
        });
      }
      send(404, status(404, 'NotFound', 'the server could not find the requested resource'));
    })();
  };
  const server: Server = createServer(handler);
  const unix: Server | null = opts.socket ? createServer(handler) : null;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  if (unix) await new Promise<void>((r) => unix.listen(opts.socket, r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    for (const x of [server, unix]) {
      if (!x) continue;
      x.closeAllConnections();
      await new Promise((r) => x.close(r));
    }
  };
  onTestFinished(close);
  return Object.assign(api, { url, kubeconfig: kubeconfigFile(url), close });
}

/** A kubeconfig for `server` with the agent's token (plain http needs insecure-skip-tls-verify in client-node). */
export function kubeconfigFile(server: string, token = AGENT_TOKEN): string {
  const f = join(tempDir('kc'), 'config');
  writeFileSync(
    f,
    `apiVersion: v1\nkind: Config\nclusters:\n- name: replay\n  cluster:\n    server: ${server}\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: ${token}\ncontexts:\n- name: c\n  context:\n    cluster: replay\n    user: u\ncurrent-context: c\n`,
  );
  return f;
}
