// TokenReview (authentication.k8s.io/v1) and SubjectAccessReview (authorization.k8s.io/v1) for the HTTP API's
// Kubernetes auth mode.

import type { KubeConfig } from '@kubernetes/client-node';
import { kubeHttp } from './request.js';

export interface ReviewUser {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

/** Anything but a 2xx answer is an error: the caller must not decide without the API server. */
async function postJson(kc: KubeConfig, path: string, body: unknown, timeoutMs: number): Promise<unknown> {
  const res = await kubeHttp(kc, 'POST', path, { body, timeoutMs, maxBytes: 1 << 20 });
  if (res.status < 200 || res.status > 299) throw new Error(`POST ${path}: HTTP ${res.status} ${res.text.slice(0, 200)}`);
  try {
    return JSON.parse(res.text);
  } catch {
    throw new Error(`POST ${path}: the answer is not JSON`);
  }
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
