// `asymroute demo` end to end, and its teardown on Ctrl-C.

import { execa } from 'execa';
import { expect, it } from 'vitest';
import { BIN, runCli } from '../helpers/cli.js';
import { describeAsRoot } from '../helpers/root.js';

async function demoNamespaces(): Promise<string[]> {
  const r = await execa('ip', ['netns', 'list'], { reject: false });
  return String(r.stdout)
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => /^ardemo\d+-/.test(n));
}

describeAsRoot('asymroute demo', () => {
  it('shows the finding, the failing connection, the fix and the working connection, and cleans up', { timeout: 120_000 }, async () => {
    const r = await runCli(['demo']);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(
      /CRITICAL asymmetric-reply-path: 192\.168\.1\.240: requests arrive on eth1, replies to .* leave on eth0 \(default via 192\.168\.121\.1 dev eth0\)/,
    );
    expect(r.stdout).toMatch(/-> via 192\.168\.121\.1 dev eth0 +ASYMMETRIC \(in eth1, out eth0\)/);
    expect(r.stdout).toMatch(/connection FAILED after \d+ ms: timeout/);
    expect(r.stdout).toMatch(/No findings: replies leave on the interfaces the requests arrive on\./);
    expect(r.stdout).toMatch(/connected in \d+ ms, server said "asymroute-demo"/);
    expect(r.stdout).toMatch(/demo complete/);
    expect(await demoNamespaces()).toEqual([]);
  });

  it(
    "--backend pod: the from-VIP rule does not fix a DNAT'd pod, the connmark routing check printed does",
    { timeout: 120_000 },
    async () => {
      const r = await runCli(['demo', '--backend', 'pod']);
      expect(r.stderr).toBe('');
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toMatch(/replies forwarded from backend 10\.244\.1\.5, received on vethpod:/);
      const afterRule = r.stdout.split('after the from-VIP rule')[1]!.split('== 6.')[0]!;
      expect(afterRule).toMatch(/CRITICAL asymmetric-reply-path/);
      expect(afterRule).toMatch(/connection FAILED after \d+ ms: timeout/);
      expect(r.stdout).toMatch(/\$ iptables -t mangle -I PREROUTING 1 -i eth1 -m conntrack --ctstate NEW -j CONNMARK --set-mark 0x64/);
      const after = r.stdout.split('== 7.')[1]!;
      expect(after).toMatch(/No findings: replies leave on the interfaces the requests arrive on\./);
      expect(after).toMatch(/connected in \d+ ms, server said "asymroute-demo"/);
      expect(r.stdout).toMatch(/demo complete/);
      expect(await demoNamespaces()).toEqual([]);
    },
  );

  it(
    '--fix default-route moves the default route to eth1, and --keep leaves the namespaces for inspection',
    { timeout: 120_000 },
    async () => {
      let kept: string[] = [];
      let out = '';
      try {
        const r = await runCli(['demo', '--fix', 'default-route', '--keep']);
        out = r.stdout;
        expect(r.stderr).toBe('');
        expect(r.exitCode).toBe(0);
        expect(r.stdout).toMatch(/applying the fix check printed \(default route moved to eth1\)/);
        expect(r.stdout).toMatch(/No findings: replies leave on the interfaces the requests arrive on\./);
        expect(r.stdout).toMatch(/demo complete/);
        expect(r.stdout).not.toMatch(/namespaces removed/);
        const m = /namespaces kept \(--keep\): remove with: (.*)$/m.exec(r.stdout);
        expect(m).not.toBeNull();
        kept = [...m![1]!.matchAll(/ip netns del ([^\s;]+)/g)].map((x) => x[1]!);
        expect(kept.sort()).toEqual((await demoNamespaces()).sort());
        expect(kept).toHaveLength(4);
        const node = kept.find((n) => n.endsWith('-node'))!;
        const routes = JSON.parse((await execa('ip', ['-n', node, '-j', 'route', 'show', 'default'])).stdout) as Array<{ dev: string }>;
        expect(routes.map((x) => x.dev)).toEqual(['eth1']);
      } finally {
        // Only this demo's namespaces (its output names them): other runs may be building theirs meanwhile.
        for (const n of new Set([...kept, ...[...out.matchAll(/\bardemo\d+-[a-z]+/g)].map((x) => x[0])]))
          await execa('ip', ['netns', 'del', n], { reject: false });
      }
      expect(await demoNamespaces()).toEqual([]);
    },
  );

  it.each([
    ['while building the namespaces', '== 1.'],
    ['while proving the failure', '== 3.'],
  ])('removes its namespaces on Ctrl-C %s', { timeout: 60_000 }, async (_when, marker) => {
    const child = execa(process.execPath, [BIN, 'demo'], { reject: false, stdin: 'ignore', all: true });
    let seen = '';
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`demo never reached its check step: ${seen}`)), 30_000);
      child.all?.on('data', (d: Buffer) => {
        seen += String(d);
        if (seen.includes(marker)) {
          clearTimeout(t);
          resolve();
        }
      });
    });
    if (marker === '== 3.') expect((await demoNamespaces()).length).toBe(4);
    child.kill('SIGINT');
    const r = await child;
    expect(r.exitCode).toBe(130);
    expect(await demoNamespaces()).toEqual([]);
  });
});
