// Who may reach `serve`'s HTTP API, and over what: the auth mode and TLS from the options, refused when the
// combination would expose the node's routes and flows, or bearer tokens, to the network without saying so.

import { hostname, networkInterfaces } from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import { UsageError } from '../config/load.js';
import { KubernetesAuthorizer, TokenFileAuthorizer, type Authorizer } from '../exposition/auth.js';
import { certificateFiles, selfSignedServing, type ServingCertificate } from '../exposition/tls.js';
import { accessReviewer } from '../kubernetes/access-review.js';
import { parseIp } from '../net/ip.js';

export interface AccessOptions {
  listen: string;
  auth: 'auto' | 'none' | 'tokens' | 'kubernetes';
  authTokenFile: string | null;
  tls: 'auto' | 'on' | 'off';
  tlsCertFile: string | null;
  tlsKeyFile: string | null;
  insecureNoAuth: boolean;
}

export interface Access {
  mode: 'none' | 'tokens' | 'kubernetes';
  auth: Authorizer | null;
  tls: ServingCertificate | null;
}

export function isLoopback(address: string): boolean {
  const ip = parseIp(address);
  if (!ip) return false;
  return ip.family === 4 ? ip.value >> 24n === 127n : ip.value === 1n;
}

/** The addresses a self-signed certificate names: every local address (a scraper may use any of them). */
function localAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .map((a) => a?.address ?? '')
    .filter(Boolean);
}

/** Throws UsageError for an unsafe or incomplete combination, naming the values and the way out. */
export function resolveAccess(o: AccessOptions, kc: KubeConfig | null, node: string, log: (rec: Record<string, unknown>) => void): Access {
  const loopback = isLoopback(o.listen);
  const mode = o.auth === 'auto' ? (o.authTokenFile ? 'tokens' : kc ? 'kubernetes' : 'none') : o.auth;
  if (mode === 'kubernetes' && !kc) throw new UsageError('--auth kubernetes needs Kubernetes (in-cluster or --kubeconfig)');
  if (mode === 'tokens' && !o.authTokenFile) throw new UsageError('--auth tokens needs --auth-token-file FILE');
  if (mode !== 'tokens' && o.authTokenFile) throw new UsageError(`--auth-token-file is used only with --auth tokens, not ${mode}`);
  if (mode === 'none' && !loopback) {
    if (!o.insecureNoAuth)
      throw new UsageError(
        `--listen ${JSON.stringify(o.listen)} is not a loopback address and --auth is none: anyone who reaches it could read this node's routes, neighbours and client flows. Use --auth tokens with --auth-token-file, --auth kubernetes, or --insecure-no-auth to accept that.`,
      );
    log({
      event: 'insecure-no-auth',
      level: 'warn',
      message: `serving without authentication on ${o.listen} (--insecure-no-auth): anyone who reaches the port reads routes, neighbours and client flows`,
    });
  }
  if (!o.tlsCertFile !== !o.tlsKeyFile) throw new UsageError('--tls-cert-file and --tls-key-file go together');
  if (o.tls === 'off' && o.tlsCertFile) throw new UsageError('--tls off with --tls-cert-file: drop one of them');
  const bearer = mode !== 'none';
  if (o.tls === 'off' && bearer && !loopback)
    throw new UsageError(
      `--tls off with --auth ${mode} on --listen ${JSON.stringify(o.listen)}: bearer tokens would cross the network in clear. Use --tls auto or on, or listen on loopback.`,
    );
  const tlsOn = o.tls === 'on' || (o.tls === 'auto' && (!!o.tlsCertFile || (bearer && !loopback)));

  let tls: ServingCertificate | null = null;
  if (tlsOn) {
    if (o.tlsCertFile && o.tlsKeyFile) {
      try {
        tls = certificateFiles(o.tlsCertFile, o.tlsKeyFile, log);
      } catch (e) {
        throw new UsageError(`--tls-cert-file ${JSON.stringify(o.tlsCertFile)}: ${(e as Error).message}`);
      }
    } else {
      const ips = parseIp(o.listen) && !/^(0\.0\.0\.0|::)$/.test(o.listen) ? [o.listen] : localAddresses();
      tls = selfSignedServing({ node, dnsNames: [hostname(), 'localhost'], ips: [...ips, '127.0.0.1', '::1'] }, log);
    }
  }

  let auth: Authorizer | null = null;
  if (mode === 'tokens') {
    try {
      auth = new TokenFileAuthorizer(o.authTokenFile!, log);
    } catch (e) {
      throw new UsageError(`--auth-token-file ${JSON.stringify(o.authTokenFile)}: ${(e as Error).message}`);
    }
  } else if (mode === 'kubernetes') auth = new KubernetesAuthorizer(accessReviewer(kc!), node, log);
  return { mode, auth, tls };
}
