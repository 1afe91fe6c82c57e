// The serving certificate's rotation: a self-signed one renewed once 30 days remain, and certificate files whose
// replacement is served only when the new pair loads and belongs together.

import { X509Certificate } from 'node:crypto';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { selfSignedFiles } from '../helpers/openssl.js';
import { certificateFiles, selfSignedServing, type KeyPair } from '../../agent/exposition/tls.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

const DAY = 86400_000;

describe('selfSignedServing', () => {
  it('keeps its certificate until 30 days remain, then makes and applies a new one', async () => {
    let now = Date.parse('2026-11-28T00:00:00Z');
    let ticks = 0;
    const logs: Array<Record<string, unknown>> = [];
    const s = selfSignedServing({ node: 'node-a', dnsNames: [], ips: ['127.0.0.1'] }, (r) => logs.push(r), {
      checkMs: 5,
      now: () => (ticks++, now),
    });
    const first = new X509Certificate(s.current().cert);
    const applied: KeyPair[] = [];
    s.watch((p) => applied.push(p));
    try {
      now += 59 * DAY;
      const seen = ticks;
      await until(() => ticks >= seen + 5, 'five checks');
      expect(applied).toEqual([]);
      now += 2 * DAY;
      await until(() => applied.length === 1, 'the renewal');
      const second = new X509Certificate(applied[0]!.cert);
      expect(second.fingerprint256).not.toBe(first.fingerprint256);
      expect(Date.parse(second.validTo) - now).toBeGreaterThan(89 * DAY);
      expect(s.current().cert).toBe(applied[0]!.cert);
      expect(logs.map((l) => l['source'])).toEqual(['self-signed', 'self-signed']);
    } finally {
      s.stop();
    }
  });
});

describe('certificateFiles', () => {
  it('refuses a key that is not the certificate’s at start, and keeps the good pair when a rotation is half done', async () => {
    const dir = tempDir('certfiles');
    const make = (tag: string) => selfSignedFiles(dir, tag);
    const a = await make('a');
    const b = await make('b');
    expect(() => certificateFiles(a.cert, b.key, () => undefined)).toThrow(/is not the key of the certificate/);
    const liveCert = join(dir, 'tls.crt');
    const liveKey = join(dir, 'tls.key');
    copyFileSync(a.cert, liveCert);
    copyFileSync(a.key, liveKey);
    const logs: Array<Record<string, unknown>> = [];
    const s = certificateFiles(liveCert, liveKey, (r) => logs.push(r), 10);
    const applied: string[] = [];
    s.watch((p) => applied.push(new X509Certificate(p.cert).subject));
    try {
      copyFileSync(b.cert, liveCert);
      await until(() => logs.some((l) => l['event'] === 'tls-certificate-reload-failed'), 'the failed reload');
      expect(applied).toEqual([]);
      expect(new X509Certificate(s.current().cert).subject).toBe('CN=a');
      copyFileSync(b.key, liveKey);
      await until(() => applied.length === 1, 'the reload');
      expect(applied).toEqual(['CN=b']);
      writeFileSync(liveCert, 'not a certificate');
      await until(() => logs.filter((l) => l['event'] === 'tls-certificate-reload-failed').length === 2, 'the second failed reload');
      expect(new X509Certificate(s.current().cert).subject).toBe('CN=b');
    } finally {
      s.stop();
    }
  });
});
