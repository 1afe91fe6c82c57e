// The self-signed certificate checked by parsers that are not ours: node's X509Certificate (OpenSSL), the openssl
// command, and a real TLS handshake that trusts only that certificate.

import { createPrivateKey, X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, createServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { selfSignedCertificate } from '../../agent/exposition/self-signed.js';
import { tempDir } from '../helpers/tmp.js';

const make = (now?: Date) =>
  selfSignedCertificate({
    commonName: 'asymroute node-a',
    dnsNames: ['node-a', 'localhost', 'not a dns name', 'NODE-A'],
    ips: ['127.0.0.1', '::1', '2001:db8::5', '203.0.113.9', 'fe80::1%eth0', '127.0.0.1'],
    days: 90,
    now,
  });

describe('selfSignedCertificate', () => {
  it('parses in OpenSSL with the names, addresses, validity and fingerprint given, and its signature verifies', () => {
    const c = make(new Date('2026-11-28T00:00:00Z'));
    const x = new X509Certificate(c.certPem);
    expect(x.subject).toBe('CN=asymroute node-a');
    expect(x.issuer).toBe(x.subject);
    expect(x.subjectAltName).toBe(
      'DNS:node-a, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:2001:DB8:0:0:0:0:0:5, IP Address:203.0.113.9, IP Address:FE80:0:0:0:0:0:0:1',
    );
    expect(x.validFrom).toBe('Nov 27 23:00:00 2026 GMT');
    expect(x.validTo).toBe('Feb 26 00:00:00 2027 GMT');
    expect(c.notAfter.toISOString()).toBe('2027-02-26T00:00:00.000Z');
    expect(x.fingerprint256).toBe(c.fingerprint);
    expect(x.verify(x.publicKey)).toBe(true);
    expect(x.checkPrivateKey(createPrivateKey(c.keyPem))).toBe(true);
    expect(x.publicKey.asymmetricKeyDetails).toEqual({ namedCurve: 'prime256v1' });
    expect(x.serialNumber).toMatch(/^[0-9A-F]{32}$/);
  });

  it('uses GeneralizedTime after 2049 (RFC 5280)', () => {
    const x = new X509Certificate(make(new Date('2049-12-01T00:00:00Z')).certPem);
    expect(x.validTo).toBe('Mar  1 00:00:00 2050 GMT');
  });

  it('is accepted by openssl x509 and openssl verify as its own trust anchor', async () => {
    const dir = tempDir('selfsigned');
    const f = join(dir, 'cert.pem');
    const c = make();
    writeFileSync(f, c.certPem);
    const text = await execa('openssl', ['x509', '-in', f, '-noout', '-text']);
    expect(text.stdout).toMatch(/Signature Algorithm: ecdsa-with-SHA256/);
    expect(text.stdout).toMatch(/ASN1 OID: prime256v1/);
    expect(text.stdout).toMatch(/TLS Web Server Authentication/);
    const fp = await execa('openssl', ['x509', '-in', f, '-noout', '-fingerprint', '-sha256']);
    expect(fp.stdout).toBe(`sha256 Fingerprint=${c.fingerprint}`);
    const v = await execa('openssl', ['verify', '-purpose', 'sslserver', '-CAfile', f, f], { reject: false });
    expect(v.stdout).toBe(`${f}: OK`);
  });

  it('serves a TLS handshake that verifies against the certificate, for its IP and its DNS name', async () => {
    const c = make();
    const server = createServer({ cert: c.certPem, key: c.keyPem }, (s) => s.end('hello'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as AddressInfo).port;
      const hello = (servername?: string) =>
        new Promise<string>((resolve, reject) => {
          const s: TLSSocket = connect({ host: '127.0.0.1', port, ca: c.certPem, servername }, () => {
            s.once('data', (d) => resolve(`${String(d)} ${s.authorized}`));
          });
          s.on('error', reject);
        });
      expect(await hello()).toBe('hello true');
      expect(await hello('node-a')).toBe('hello true');
      await expect(hello('other-node')).rejects.toThrow(/Hostname\/IP does not match/);
      // And a client that trusts another self-signed certificate refuses it.
      const other = make();
      await expect(
        new Promise((resolve, reject) => {
          const s = connect({ host: '127.0.0.1', port, ca: other.certPem }, () => resolve(s.authorized));
          s.on('error', reject);
        }),
      ).rejects.toThrow(/self.signed certificate/);
    } finally {
      server.close();
    }
  });
});
