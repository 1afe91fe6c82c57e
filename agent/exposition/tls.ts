// The HTTPS serving certificate: from files that are watched for rotation (kubelet rewrites a mounted Secret,
// cert-manager renews it), or self-signed at start and renewed before it expires. New connections get the new one.

import { readFileSync, statSync } from 'node:fs';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { selfSignedCertificate } from './self-signed.js';

export interface KeyPair {
  cert: string;
  key: string;
}

export const SELF_SIGNED = { days: 90, renewBeforeDays: 30, checkMs: 3600_000 };
export const FILE_POLL_MS = 10_000;

type Log = (rec: Record<string, unknown>) => void;

/** Reads a certificate and its key, and checks that they belong together (a half-rotated pair is not served). */
export function readKeyPair(certFile: string, keyFile: string): KeyPair & { notAfter: string; fingerprint: string } {
  const cert = readFileSync(certFile, 'utf8');
  const key = readFileSync(keyFile, 'utf8');
  const x = new X509Certificate(cert);
  if (!x.checkPrivateKey(createPrivateKey(key))) throw new Error(`${keyFile} is not the key of the certificate in ${certFile}`);
  return { cert, key, notAfter: x.validTo, fingerprint: x.fingerprint256 };
}

export interface ServingCertificate {
  readonly source: 'files' | 'self-signed';
  current(): KeyPair;
  /** calls `apply` with each new pair until stop() */
  watch(apply: (p: KeyPair) => void): void;
  stop(): void;
}

const stampOf = (files: string[]) =>
  files
    .map((f) => {
      const s = statSync(f);
      return `${s.ino}:${s.size}:${s.mtimeMs}`;
    })
    .join(' ');

/** Certificate files, polled every FILE_POLL_MS; a pair that does not load keeps the last good one, logged once. */
export function certificateFiles(certFile: string, keyFile: string, log: Log, pollMs = FILE_POLL_MS): ServingCertificate {
  let pair = readKeyPair(certFile, keyFile);
  let stamp = stampOf([certFile, keyFile]);
  let timer: NodeJS.Timeout | null = null;
  log({ event: 'tls-certificate', source: 'files', cert: certFile, notAfter: pair.notAfter, fingerprint: pair.fingerprint });
  return {
    source: 'files',
    current: () => pair,
    watch(apply) {
      timer = setInterval(() => {
        let s: string;
        try {
          s = stampOf([certFile, keyFile]);
        } catch (e) {
          s = `error:${(e as Error).message}`;
        }
        if (s === stamp) return;
        stamp = s;
        try {
          pair = readKeyPair(certFile, keyFile);
          apply(pair);
          log({ event: 'tls-certificate-reloaded', cert: certFile, notAfter: pair.notAfter, fingerprint: pair.fingerprint });
        } catch (e) {
          log({ event: 'tls-certificate-reload-failed', cert: certFile, error: (e as Error).message, keeping: pair.fingerprint });
        }
      }, pollMs);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
    },
  };
}

/** A self-signed certificate for these names, renewed once less than renewBeforeDays of it remain. */
export function selfSignedServing(
  names: { node: string; dnsNames: string[]; ips: string[] },
  log: Log,
  opts: { checkMs?: number; now?: () => number } = {},
): ServingCertificate {
  const now = opts.now ?? Date.now;
  const make = () => {
    const c = selfSignedCertificate({
      commonName: `asymroute ${names.node}`,
      dnsNames: [names.node, ...names.dnsNames],
      ips: names.ips,
      days: SELF_SIGNED.days,
      now: new Date(now()),
    });
    log({ event: 'tls-certificate', source: 'self-signed', notAfter: c.notAfter.toISOString(), fingerprint: c.fingerprint });
    return c;
  };
  let c = make();
  let timer: NodeJS.Timeout | null = null;
  return {
    source: 'self-signed',
    current: () => ({ cert: c.certPem, key: c.keyPem }),
    watch(apply) {
      timer = setInterval(() => {
        if (c.notAfter.getTime() - now() > SELF_SIGNED.renewBeforeDays * 86400_000) return;
        c = make();
        apply({ cert: c.certPem, key: c.keyPem });
      }, opts.checkMs ?? SELF_SIGNED.checkMs);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
    },
  };
}
