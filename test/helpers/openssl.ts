// Certificates made by openssl, not by the agent's own code: the tests' independent source of TLS material.

import { join } from 'node:path';
import { execa } from 'execa';

/** A self-signed EC P-256 certificate and its key, written as DIR/TAG.crt and DIR/TAG.key. */
export async function selfSignedFiles(
  dir: string,
  tag: string,
  opts: { days?: number; san?: string } = {},
): Promise<{ key: string; cert: string }> {
  const key = join(dir, `${tag}.key`);
  const cert = join(dir, `${tag}.crt`);
  await execa('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    String(opts.days ?? 1),
    '-subj',
    `/CN=${tag}`,
    ...(opts.san ? ['-addext', `subjectAltName=${opts.san}`] : []),
  ]);
  return { key, cert };
}
