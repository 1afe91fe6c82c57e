// The CLI as a user runs it: exit codes, error messages, help, and offline analysis of a saved snapshot.

import { mkdtempSync, readFileSync, rmSync, writeFileSync, symlinkSync } from 'node:fs';
import { execa } from 'execa';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildIncidentLab, type IncidentLab } from '../../agent/netns/incident-lab.js';
import { checkJson, findingTypes, ROOT, runCli } from '../helpers/cli.js';
import { describeAsRoot } from '../helpers/root.js';
import { tempDir } from '../helpers/tmp.js';

const NO_CONFIG = { ASYMROUTE_CONFIG: '' };

describe('asymroute CLI', () => {
  it('prints usage, with nothing left marked not implemented', async () => {
    const r = await runCli(['--help']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/commands:\n {2}check/);
    const none = await runCli([]);
    expect(none.exitCode).toBe(2);
    expect(r.stdout).not.toMatch(/not implemented/);
    expect(r.stdout).toMatch(/^ {2}cluster +every node in one table/m);
    const serve = await runCli(['serve', '--port', '70000'], { env: { ASYMROUTE_CONFIG: '' } });
    expect(serve.exitCode).toBe(2);
    expect(serve.stderr).toMatch(/invalid value "70000" for --port: expected an integer from 0 to 65535/);
    const unknown = await runCli(['frob']);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command "frob"/);
  });

  it('--version names the source revision the build was made from', async () => {
    const head = (await execa('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: ROOT })).stdout.trim();
    const r = await runCli(['--version']);
    expect(r.exitCode).toBe(0);
    const m = /^asymroute (\S+) \(revision (\S+), Node (\S+)\)$/.exec(r.stdout.trim());
    expect(m, r.stdout).not.toBeNull();
    expect(m![1]).toBe(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
    expect(m![2]).toContain(head);
    expect(m![3]).toBe(process.versions.node);
  });

  it('check --help lists options with their environment variables', async () => {
    const r = await runCli(['check', '--help']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/--vip IP\[@IFACE\]/);
    expect(r.stdout).toMatch(/env ASYMROUTE_CLIENTS/);
  });

  it('a bad value exits 2 and quotes it', async () => {
    const r = await runCli(['check', '--vip', '192.168.1.2400'], { env: NO_CONFIG });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/invalid value "192\.168\.1\.2400" for --vip/);
    expect(r.stdout).toBe('');
  });

  it('analyze on a directory or a missing file exits 2 (unreadable input), not 1 (findings)', async () => {
    const dir = tempDir('analyze-dir');
    const r = await runCli(['analyze', dir], { env: NO_CONFIG });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/cannot read .*: it is a directory, not a capture file/);
    const missing = await runCli(['analyze', join(dir, 'nope.pcap')], { env: NO_CONFIG });
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toMatch(/cannot read .*nope\.pcap: ENOENT/);
  });

  it('without iproute2 the error names the package', async () => {
    // A PATH that has node but no ip.
    const dir = tempDir('path');
    symlinkSync(process.execPath, join(dir, 'node'));
    const r = await runCli(['check', '--vip', '192.168.1.240'], { env: { PATH: dir, ...NO_CONFIG }, extendEnv: false });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/'ip' command \(iproute2\) was not found .*apt-get install iproute2/);
  });

  it('a file that is not a snapshot is refused', async () => {
    const dir = tempDir('snap');
    const f = join(dir, 's.json');
    writeFileSync(f, '{"hello": 1}');
    const r = await runCli(['check', '--snapshot', f, '--vip', '1.2.3.4'], { env: NO_CONFIG });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/not an asymroute snapshot/);
  });
});

describeAsRoot('snapshot taken on a node, analysed elsewhere', () => {
  let lab: IncidentLab;
  let file: string;
  let snapDir: string | null = null;
  beforeAll(async () => {
    lab = await buildIncidentLab('arsnap');
    const snap = await runCli(['snapshot'], { netns: lab.node });
    expect(snap.exitCode).toBe(0);
    snapDir = mkdtempSync(join(tmpdir(), 'asymroute-snap-'));
    file = join(snapDir, 'node.json');
    writeFileSync(file, snap.stdout);
  });
  afterAll(async () => {
    if (snapDir) rmSync(snapDir, { recursive: true, force: true });
    await lab?.lab.destroy();
  });

  it('finds the same asymmetry from the model alone, outside the namespace', async () => {
    const r = await checkJson(['--snapshot', file, '--vip', lab.vip, '--client', lab.clientCidr]);
    expect(r.report.source).toBe('snapshot');
    expect(findingTypes(r.report)).toEqual(['asymmetric-reply-path', 'default-route-on-management-network']);
    const f = r.report.findings[0]!;
    expect(f).toMatchObject({
      ingress: 'eth1',
      egress: 'eth0',
      route: 'default via 192.168.121.1 dev eth0',
      rule: '32766: from all lookup main',
    });
    expect(r.report.vips[0]!.paths.every((p) => p.kernel === null)).toBe(true);
    expect(r.exitCode).toBe(1);
  });

  it('the text report names eth1, eth0 and the offending route', async () => {
    const r = await runCli(['check', '--snapshot', file, '--vip', lab.vip], { env: NO_CONFIG });
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(
      /CRITICAL asymmetric-reply-path: 192\.168\.1\.240: requests arrive on eth1, replies to .* leave on eth0 \(default via 192\.168\.121\.1 dev eth0\)/,
    );
    expect(r.stdout).toMatch(/ip route add default via 192\.168\.1\.254 dev eth1 table 100/);
  });
});
