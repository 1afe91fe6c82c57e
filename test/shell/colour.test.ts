// Colour on a terminal only: `check` run under a pseudo-terminal (util-linux `script`) colours severities and
// verdicts; NO_COLOR, TERM=dumb or a pipe give plain text, and the words are the same either way.

import { execa } from 'execa';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, ROOT } from '../helpers/cli.js';

const ARGS = ['check', '--snapshot', join(ROOT, 'test/fixtures/vagrant-incident.snapshot.json'), '--vip', '192.168.1.240'];
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;

async function onTerminal(env: Record<string, string | undefined>): Promise<string> {
  const cmd = [process.execPath, BIN, ...ARGS].map((a) => `'${a}'`).join(' ');
  const r = await execa('script', ['-qec', cmd, '/dev/null'], {
    reject: false,
    env: { ASYMROUTE_CONFIG: '', TERM: 'xterm', NO_COLOR: undefined, ...env },
  });
  return r.stdout.replace(/\r\n/g, '\n');
}

describe('colour', () => {
  it('colours severities and verdicts on a terminal, and nothing else changes', { timeout: 30_000 }, async () => {
    const tty = await onTerminal({});
    expect(tty).toContain('\u001b[1m\u001b[31mCRITICAL\u001b[39m\u001b[22m asymmetric-reply-path');
    expect(tty).toContain('\u001b[1m\u001b[31mASYMMETRIC (in eth1, out eth0)\u001b[39m\u001b[22m');
    const piped = await execa(process.execPath, [BIN, ...ARGS], { reject: false, env: { ASYMROUTE_CONFIG: '' } });
    expect(piped.stdout).not.toMatch(ANSI);
    expect(tty.replace(ANSI, '').trim()).toBe(piped.stdout.trim());
  });

  it('is off with NO_COLOR or TERM=dumb, even on a terminal', { timeout: 30_000 }, async () => {
    expect(await onTerminal({ NO_COLOR: '1' })).not.toMatch(ANSI);
    expect(await onTerminal({ TERM: 'dumb' })).not.toMatch(ANSI);
  });
});
