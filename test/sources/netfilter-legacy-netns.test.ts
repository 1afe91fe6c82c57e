// Legacy (x_tables) rules are read only when the namespace holds legacy tables: two spawns saved on every check of
// a host without them, and a legacy DNAT rule still read on one with them (through `asymroute snapshot`, as root).

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, expect, it } from 'vitest';
import { legacyTablesPresent } from '../../agent/sources/netfilter.js';
import { BIN } from '../helpers/cli.js';
import { describeAsRoot } from '../helpers/root.js';

const snapshotRead = async (ns: string) => {
  const r = await execa('ip', ['netns', 'exec', ns, process.execPath, BIN, 'snapshot'], { reject: false });
  expect(r.exitCode, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { netfilter: { read: string[]; errors: string[] } }).netfilter;
};

it('decides from /proc/net/ip_tables_names: absent or empty means none; unreadable means maybe', () => {
  const dir = mkdtempSync(join(tmpdir(), 'asymroute-proc-'));
  try {
    expect(legacyTablesPresent(4, dir)).toBe(false);
    writeFileSync(join(dir, 'ip_tables_names'), '');
    expect(legacyTablesPresent(4, dir)).toBe(false);
    writeFileSync(join(dir, 'ip6_tables_names'), 'nat\nfilter\n');
    expect([legacyTablesPresent(4, dir), legacyTablesPresent(6, dir)]).toEqual([false, true]);
    // A directory where the file should be: not ENOENT, so the tool runs.
    rmSync(join(dir, 'ip6_tables_names'));
    mkdirSync(join(dir, 'ip6_tables_names'));
    expect(legacyTablesPresent(6, dir)).toBe(true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

describeAsRoot('legacy iptables in a namespace', () => {
  const ns = `arlg${process.pid}`;
  afterEach(async () => {
    await execa('ip', ['netns', 'del', ns], { reject: false });
  });

  it('skips iptables-legacy-save without legacy tables, and reads a legacy DNAT rule once there is one', async () => {
    await execa('ip', ['netns', 'add', ns]);
    const before = await snapshotRead(ns);
    expect(before.read).toContain('iptables-legacy-save: not run, no legacy tables in this namespace (/proc/net/ip_tables_names)');
    expect(before.read).toContain('ip6tables-legacy-save: not run, no legacy tables in this namespace (/proc/net/ip6_tables_names)');
    await execa('ip', [
      'netns',
      'exec',
      ns,
      'iptables-legacy',
      '-t',
      'nat',
      '-A',
      'PREROUTING',
      '-d',
      '10.9.9.9',
      '-j',
      'DNAT',
      '--to-destination',
      '10.1.1.1',
    ]);
    const after = await snapshotRead(ns);
    expect(after.read).toContain('iptables-legacy-save: 1 rules in 4 chains');
    expect(after.read).toContain('ip6tables-legacy-save: not run, no legacy tables in this namespace (/proc/net/ip6_tables_names)');
    expect(after.errors).toEqual([]);
  });
});
