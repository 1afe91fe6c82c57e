// A self-signed serving certificate (EC P-256, ECDSA-SHA256) for HTTPS when no certificate files are given.
// node:crypto makes keys and signatures but not X.509, so the TBSCertificate is encoded here in DER (RFC 5280).

import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { isIP } from 'node:net';

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

const tlv = (tag: number, ...parts: Buffer[]): Buffer => {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
};
const seq = (...parts: Buffer[]) => tlv(0x30, ...parts);

function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number) as [number, number, ...number[]];
  const out = [a * 40 + b];
  for (const n of rest) {
    const groups: number[] = [n & 0x7f];
    for (let v = Math.floor(n / 128); v > 0; v = Math.floor(v / 128)) groups.unshift(0x80 | (v & 0x7f));
    out.push(...groups);
  }
  return tlv(0x06, Buffer.from(out));
}

// RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(iso.slice(2), 'ascii')) : tlv(0x18, Buffer.from(iso, 'ascii'));
}

function ipBytes(withZone: string): Buffer | null {
  // A link-local address's zone (fe80::1%eth0) is not part of it.
  const ip = withZone.split('%')[0]!;
  const v = isIP(ip);
  if (v === 4) return Buffer.from(ip.split('.').map(Number));
  if (v !== 6) return null;
  const [head, tail] = ip.includes('::') ? (ip.split('::') as [string, string]) : [ip, ''];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  if (t.length > 0 && t.at(-1)!.includes('.')) return null;
  const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  if (groups.length !== 8 || !groups.every((g) => /^[0-9a-f]{1,4}$/i.test(g))) return null;
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}

const DNS_NAME = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/i;

export interface SelfSigned {
  certPem: string;
  keyPem: string;
  notAfter: Date;
  /** SHA-256 of the DER certificate, colon-separated hex (as openssl x509 -fingerprint -sha256 prints it) */
  fingerprint: string;
}

/** At most 64 subject alternative names: the names that are DNS names, the addresses that parse; duplicates dropped. */
export function selfSignedCertificate(o: { commonName: string; dnsNames: string[]; ips: string[]; days: number; now?: Date }): SelfSigned {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const now = o.now ?? new Date();
  // Backdated an hour for clocks slightly behind.
  const notBefore = new Date(Math.floor(now.getTime() / 1000) * 1000 - 3600_000);
  const notAfter = new Date(notBefore.getTime() + 3600_000 + o.days * 86400_000);
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01;
  const ecdsaSha256 = seq(oid('1.2.840.10045.4.3.2'));
  const cn = o.commonName.slice(0, 64);
  const name = seq(tlv(0x31, seq(oid('2.5.4.3'), tlv(0x0c, Buffer.from(cn, 'utf8')))));
  const sans: Buffer[] = [];
  const seen = new Set<string>();
  for (const d of o.dnsNames) {
    if (!DNS_NAME.test(d) || seen.has(d.toLowerCase())) continue;
    seen.add(d.toLowerCase());
    sans.push(tlv(0x82, Buffer.from(d, 'ascii')));
  }
  for (const ip of o.ips) {
    const b = ipBytes(ip);
    if (!b || seen.has(b.toString('hex'))) continue;
    seen.add(b.toString('hex'));
    sans.push(tlv(0x87, b));
  }
  const extensions = [
    // subjectAltName
    seq(oid('2.5.29.17'), tlv(0x04, seq(...sans.slice(0, 64)))),
    // extKeyUsage: serverAuth
    seq(oid('2.5.29.37'), tlv(0x04, seq(oid('1.3.6.1.5.5.7.3.1')))),
  ];
  const tbs = seq(
    tlv(0xa0, tlv(0x02, Buffer.from([2]))),
    tlv(0x02, serial),
    ecdsaSha256,
    name,
    seq(time(notBefore), time(notAfter)),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    tlv(0xa3, seq(...extensions)),
  );
  const signature = sign('sha256', tbs, { key: privateKey, dsaEncoding: 'der' });
  const der = seq(tbs, ecdsaSha256, tlv(0x03, Buffer.from([0]), signature));
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n');
  return {
    certPem: `-----BEGIN CERTIFICATE-----\n${b64.endsWith('\n') ? b64 : b64 + '\n'}-----END CERTIFICATE-----\n`,
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    notAfter,
    fingerprint: createHash('sha256')
      .update(der)
      .digest('hex')
      .toUpperCase()
      .replace(/(..)(?!$)/g, '$1:'),
  };
}
