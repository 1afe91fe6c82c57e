// TokenReview (authentication.k8s.io/v1) and SubjectAccessReview (authorization.k8s.io/v1) for the HTTP API's
// Kubernetes auth mode. Sent with node:http(s) and the kubeconfig's agent: global fetch ignores the agent, and with
// it the cluster's CA and client certificate.

import { request as httpRequest, type Agent as HttpAgent } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

export interface ReviewUser {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

/** Anything but a 2xx answer is an error: the caller must not decide without the API server. */
async function postJson(kc: KubeConfig, path: string, body: unknown, timeoutMs: number): Promise<unknown> {
  const opts: { headers?: Record<string, string>; agent?: HttpAgent; auth?: string } = {};
  await kc.applyToHTTPSOptions(opts as Parameters<KubeConfig['applyToHTTPSOptions']>[0]);
  const url = new URL(path, kc.getCurrentCluster()!.server);
  const data = JSON.stringify(body);
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent: opts.agent,
        auth: opts.auth,
        headers: {
          ...opts.headers,
          'content-type': 'application/json',
          accept: 'application/json',
          'content-length': Buffer.byteLength(data),
        },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (d: Buffer) => {
          size += d.length;
          if (size > 1 << 20) req.destroy(new Error(`POST ${path}: answer larger than 1 MiB`));
          else chunks.push(d);
        });
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const code = res.statusCode ?? 0;
          if (code < 200 || code > 299) return reject(new Error(`POST ${path}: HTTP ${code} ${text.slice(0, 200)}`));
          try {
            resolve(JSON.parse(text));
          } catch {
            reject(new Error(`POST ${path}: the answer is not JSON`));
          }
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`POST ${path}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(data);
  });
}

const obj = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {});

export function accessReviewer(kc: KubeConfig, timeoutMs = 5000) {
  return {
    async tokenReview(token: string) {
      const res = obj(
        await postJson(
          kc,
          '/apis/authentication.k8s.io/v1/tokenreviews',
          { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
          timeoutMs,
        ),
      );
      const status = obj(res['status']);
      if (status['authenticated'] !== true)
        return {
          authenticated: false as const,
          error: typeof status['error'] === 'string' && status['error'] ? status['error'] : 'not authenticated',
        };
      const u = obj(status['user']);
      if (typeof u['username'] !== 'string') throw new Error('TokenReview: authenticated without a username');
      const user: ReviewUser = { username: u['username'] };
      if (typeof u['uid'] === 'string') user.uid = u['uid'];
      if (Array.isArray(u['groups'])) user.groups = u['groups'].filter((g): g is string => typeof g === 'string');
      if (u['extra'] && typeof u['extra'] === 'object') user.extra = u['extra'] as Record<string, string[]>;
      return { authenticated: true as const, user };
    },

    async accessReview(user: ReviewUser, attrs: object) {
      const res = obj(
        await postJson(
          kc,
          '/apis/authorization.k8s.io/v1/subjectaccessreviews',
          {
            apiVersion: 'authorization.k8s.io/v1',
            kind: 'SubjectAccessReview',
            spec: { user: user.username, uid: user.uid, groups: user.groups, extra: user.extra, ...attrs },
          },
          timeoutMs,
        ),
      );
      const status = obj(res['status']);
      return {
        allowed: status['allowed'] === true && status['denied'] !== true,
        denied: status['denied'] === true,
        reason: typeof status['reason'] === 'string' ? status['reason'] : undefined,
      };
    },
  };
}
