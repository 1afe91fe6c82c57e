// One request to the API server through node:http(s) with the kubeconfig's agent: global fetch ignores that agent,
// and with it the cluster's CA and client certificate (a list over fetch fails with "self-signed certificate" against
// an API whose CA is only in the kubeconfig, as in every cluster).

import { request as httpRequest, type Agent as HttpAgent } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

export interface KubeAnswer {
  status: number;
  text: string;
  contentType: string;
}

/** Resolves with any HTTP answer (the caller judges the status); rejects on a network error, a timeout or a body over maxBytes. */
export async function kubeHttp(
  kc: KubeConfig,
  method: 'GET' | 'POST',
  path: string,
  opts: { body?: unknown; timeoutMs: number; maxBytes?: number; headers?: Record<string, string> },
): Promise<KubeAnswer> {
  const o: { headers?: Record<string, string>; agent?: HttpAgent; auth?: string } = {};
  await kc.applyToHTTPSOptions(o as Parameters<KubeConfig['applyToHTTPSOptions']>[0]);
  const url = new URL(path, kc.getCurrentCluster()!.server);
  const data = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  const maxBytes = opts.maxBytes ?? 64 << 20;
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        agent: o.agent,
        auth: o.auth,
        headers: {
          ...o.headers,
          accept: 'application/json',
          ...opts.headers,
          ...(data === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (d: Buffer) => {
          size += d.length;
          if (size > maxBytes) req.destroy(new Error(`${method} ${path}: answer larger than ${maxBytes} bytes`));
          else chunks.push(d);
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            text: Buffer.concat(chunks).toString('utf8'),
            contentType: res.headers['content-type'] ?? '',
          }),
        );
        res.on('error', reject);
      },
    );
    // The whole exchange, not only the idle time, as AbortSignal.timeout did for fetch.
    const timer = setTimeout(() => req.destroy(new Error(`${method} ${path}: no answer within ${opts.timeoutMs} ms`)), opts.timeoutMs);
    req.on('close', () => clearTimeout(timer));
    req.on('error', reject);
    req.end(data);
  });
}
