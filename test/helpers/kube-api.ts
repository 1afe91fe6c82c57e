// A local Kubernetes API server for the agent's tests, answering like the real one: list + watch by path,
// TokenReview (authentication.k8s.io/v1) and SubjectAccessReview (authorization.k8s.io/v1) with 201 Created and the
// same bodies, a small RBAC evaluator behind SubjectAccessReview, Status objects for errors, and switches that make
// it fail (5xx) or vanish. Plain http: the kubeconfig sets insecure-skip-tls-verify, which client-node requires.

import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
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
  /** non-null: every request is answered with this HTTP status and a Status body */
  failWith: number | null;
  /** true: requests are read and never answered (an API server that hangs) */
  stall: boolean;
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

/** Starts the server on 127.0.0.1; it is closed when the test that started it finishes. */
export async function startKubeApi(opts: { lists?: Record<string, unknown> } = {}): Promise<KubeApi> {
  const api: Omit<KubeApi, 'url' | 'kubeconfig' | 'close'> = {
    requests: [],
    lists: opts.lists ?? {},
    tokens: new Map(),
    rules: new Map(),
    failWith: null,
    stall: false,
  };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const url = new URL(req.url!, 'http://x');
      api.requests.push({ method: req.method!, path: url.pathname, authorization: req.headers.authorization, body });
      res.setHeader('content-type', 'application/json');
      const send = (code: number, b: unknown) => void res.writeHead(code).end(JSON.stringify(b));
      if (api.stall) return;
      if (api.failWith !== null) return send(api.failWith, status(api.failWith, 'InternalError', 'the test made the API fail'));
      if (req.headers.authorization !== `Bearer ${AGENT_TOKEN}`) return send(401, status(401, 'Unauthorized', 'Unauthorized'));
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
      const list = api.lists[url.pathname];
      if (req.method === 'GET' && list) {
        if (url.searchParams.get('watch') === 'true') return void res.writeHead(200);
        return send(200, list);
      }
      send(404, status(404, 'NotFound', 'the server could not find the requested resource'));
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
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
