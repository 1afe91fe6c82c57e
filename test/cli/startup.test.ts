// Each command loads only what it uses: the packages a command imports, recorded by module hooks in a real run.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { BIN, ROOT } from '../helpers/cli.js';
import { until } from '../helpers/wait.js';

const HOOKS = join(ROOT, 'test/helpers/import-log.mjs');
const HEAVY = ['fastify', 'prom-client', '@kubernetes/client-node', 'execa', 'yaml'];
const dir = mkdtempSync(join(tmpdir(), 'asymroute-startup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let runs = 0;

// The packages under node_modules that a run resolved, by package name.
function packages(log: string): Set<string> {
  const out = new Set<string>();
  for (const url of readFileSync(log, 'utf8').split('\n')) {
    const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
    if (m) out.add(m[1]!);
  }
  return out;
}

function env(log: string): Record<string, string> {
  // No kubeconfig anywhere: HOME is an empty directory.
  return { ASYMROUTE_IMPORT_LOG: log, ASYMROUTE_CONFIG: '', HOME: dir, KUBECONFIG: '', KUBERNETES_SERVICE_HOST: '' };
}

async function loaded(args: string[]): Promise<{ pkgs: Set<string>; exitCode: number }> {
  const log = join(dir, `imports-${runs++}.log`);
  writeFileSync(log, '');
  const r = await execa(process.execPath, ['--import', HOOKS, BIN, ...args], {
    reject: false,
    stdin: 'ignore',
    timeout: 60_000,
    env: env(log),
  });
  return { pkgs: packages(log), exitCode: r.exitCode ?? -1 };
}

describe('start-up: each command loads only what it uses', () => {
  it('--help loads none of the heavy packages', async () => {
    const r = await loaded(['--help']);
    expect(r.exitCode).toBe(0);
    expect([...r.pkgs].filter((p) => HEAVY.includes(p))).toEqual([]);
  });

  it('analyze loads no HTTP server, metrics, Kubernetes client or process runner', async () => {
    const r = await loaded(['analyze', join(ROOT, 'captures/vagrant-incident.pcap'), '--json']);
    expect(r.exitCode).toBe(1);
    expect([...r.pkgs].filter((p) => HEAVY.includes(p))).toEqual([]);
  });

  it('check on the incident snapshot loads no Kubernetes client, HTTP server or metrics', async () => {
    const r = await loaded(['check', '--snapshot', join(ROOT, 'test/fixtures/vagrant-incident.snapshot.json'), '--json']);
    expect(r.exitCode).toBe(1);
    expect([...r.pkgs].filter((p) => ['fastify', 'prom-client', '@kubernetes/client-node'].includes(p))).toEqual([]);
  });

  it('serve without Kubernetes loads fastify and prom-client but not the Kubernetes client (with a kubeconfig it does), and never execa', async () => {
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "http://127.0.0.1:9"}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {}}]\ncurrent-context: c\n',
    );
    for (const extra of [[], ['--kubeconfig', kubeconfig]]) {
      const log = join(dir, `imports-${runs++}.log`);
      writeFileSync(log, '');
      const child = spawn(
        process.execPath,
        ['--import', HOOKS, BIN, 'serve', '--listen', '127.0.0.1', '--port', '0', '--capture=false', '--vip', '192.0.2.10', ...extra],
        { env: { ...process.env, ...env(log) }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
      try {
        await until(() => out.includes('"event":"listening"'), `serve to listen (output: ${out})`, 20_000);
      } finally {
        child.kill('SIGTERM');
      }
      expect(await exited).toBe(0);
      const pkgs = packages(log);
      expect(pkgs.has('fastify')).toBe(true);
      expect(pkgs.has('prom-client')).toBe(true);
      expect(pkgs.has('@kubernetes/client-node')).toBe(extra.length > 0);
      // Its children (tcpdump, ip monitor, ip, ss) run on node:child_process.
      expect(pkgs.has('execa')).toBe(false);
    }
  });
});
