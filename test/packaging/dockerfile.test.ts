// What the image contains, without a Docker engine: the runtime stage must install the Debian package of every
// binary in the agent's exported list (agent/sources/binaries.ts; the source is scanned so the list stays complete,
// and dpkg on this machine confirms each package), and the production dependency set it ships (its COPY --from=build
// lines, then its npm ci --omit=dev) must run the agent's offline path.

import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it, onTestFinished } from 'vitest';
import { AGENT_BINARIES } from '../../agent/sources/binaries.js';
import { ROOT } from '../helpers/cli.js';
import { DOCKER_CONTEXT, DOCKERFILE } from '../helpers/image.js';

interface Stage {
  name: string;
  from: string;
  lines: string[];
}

/** Instructions with continuation lines joined, grouped by stage. */
function stages(text: string): Stage[] {
  const joined = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const args = Object.fromEntries(joined.filter((l) => /^ARG \w+=/.test(l)).map((l) => l.slice(4).split('=') as [string, string]));
  const out: Stage[] = [];
  for (const l of joined) {
    const m = /^FROM (\S+)(?: AS (\S+))?$/i.exec(l);
    if (m) out.push({ from: m[1]!.replace(/\$\{(\w+)\}/g, (_x, k: string) => args[k] ?? ''), name: m[2] ?? String(out.length), lines: [] });
    else out.at(-1)?.lines.push(l);
  }
  return out;
}

// Functions that start a program, with the program as their first argument (Node's, execa's and the agent's own).
const SPAWNERS = [
  'exec',
  'execFile',
  'execFileSync',
  'execSync',
  'spawn',
  'spawnSync',
  'fork',
  'execa',
  'execaSync',
  'runTool',
  'tryTool',
  'spawnChild',
  'withParentDeath',
];

// Spawn sites whose program is a variable: where its value is written down in that file (a default parameter, a
// fallback, a list of alternatives, a PATH lookup), or null for a function that passes on its caller's program.
const FORWARDED: Record<string, RegExp | null> = {
  'sources/tool.ts: binary': null,
  'sources/tool.ts: cmd': null,
  'sources/child.ts: cmd': null,
  'sources/child.ts: bin': /existsSync\(join\(dir, '([\w.-]+)'\)\)/g,
  'sources/ip-command.ts: this.binary': /binary \?\? '([\w.-]+)'/g,
  'sources/netfilter.ts: bin': /\bbins: \[([^\]]+)\]/g,
  'l2/probe.ts: binary': /\bbinary = '([\w.-]+)'/g,
  'bgp/ss.ts: binary': /\bbinary = '([\w.-]+)'/g,
  'capture/tcpdump.ts: bin': /binary \?\? '([\w.-]+)'/g,
};

/**
 * Programs the agent runs outside the namespace labs (which only the demo and tests use), read from the source: the
 * literal first argument of every spawning call, or for a variable the values its file gives it (FORWARDED). A spawn
 * site the scan cannot read is returned in `unread`, so a new one cannot slip past it.
 */
function spawnedBinaries(): { found: Set<string>; unread: string[]; unusedForwards: string[] } {
  const agent = join(ROOT, 'agent');
  const found = new Set<string>();
  const unread: string[] = [];
  const used = new Set<string>();
  const call = new RegExp(`(?<![\\w.])(?<!function )\\b(?:${SPAWNERS.join('|')})\\(([^,)]*)`, 'g');
  const walk = (dir: string) => {
    for (const e of readdirSync(dir)) {
      const p = join(dir, e);
      if (statSync(p).isDirectory()) {
        if (e !== 'netns') walk(p);
        continue;
      }
      if (!p.endsWith('.ts') || p.endsWith(join('cli', 'demo.ts'))) continue;
      const rel = p.slice(agent.length + 1);
      const src = readFileSync(p, 'utf8');
      for (const m of src.matchAll(call)) {
        const arg = m[1]!.trim();
        // A method of the same name declared or called without arguments (the capture's own spawn()).
        if (arg === '') continue;
        const literal = /^'([\w.-]+)'$/.exec(arg);
        if (literal) {
          found.add(literal[1]!);
          continue;
        }
        const key = `${rel}: ${arg.split(':')[0]!.trim()}`;
        if (!(key in FORWARDED)) {
          unread.push(`${rel}:${src.slice(0, m.index).split('\n').length} ${m[0]!.trim()}`);
          continue;
        }
        used.add(key);
        const values = FORWARDED[key];
        if (!values) continue;
        const names = [...src.matchAll(values)].flatMap((v) => [...v[1]!.matchAll(/'?([\w.-]+)'?/g)].map((x) => x[1]!));
        if (names.length === 0) unread.push(`${key}: its pattern finds no program name in the file`);
        for (const n of names) found.add(n);
      }
    }
  };
  walk(agent);
  return { found, unread, unusedForwards: Object.keys(FORWARDED).filter((k) => !used.has(k)) };
}

function debianPackage(bin: string): { pkg: string; essential: boolean } {
  const path = spawnSync('sh', ['-c', 'command -v "$1"', 'sh', bin], { encoding: 'utf8' }).stdout.trim();
  expect(path, `${bin} on PATH`).not.toBe('');
  // usrmerge: dpkg may know the file under /bin or /sbin.
  const candidates = [path, realpathSync(path), path.replace(/^\/usr/, ''), realpathSync(path).replace(/^\/usr/, '')];
  for (const c of candidates) {
    const r = spawnSync('dpkg', ['-S', c], { encoding: 'utf8' });
    if (r.status === 0) {
      const pkg = r.stdout.split(':')[0]!.trim();
      const essential = spawnSync('dpkg-query', ['-W', '-f=${Essential}', pkg], { encoding: 'utf8' }).stdout.trim() === 'yes';
      return { pkg, essential };
    }
  }
  throw new Error(`no Debian package owns ${path}`);
}

const dockerfile = readFileSync(DOCKERFILE, 'utf8');
const all = stages(dockerfile);
const runtime = all.at(-1)!;

describe('Dockerfile', () => {
  it('is multi-stage on a supported Node LTS slim image, with OCI labels and an entrypoint that runs serve', () => {
    expect(all.map((s) => s.name)).toEqual(['build', 'runtime']);
    for (const s of all) {
      const m = /^node:(\d+)-(\w+)-slim$/.exec(s.from);
      expect(m, s.from).not.toBeNull();
      // Even majors are LTS lines; Node 20 left maintenance in April 2026.
      expect(Number(m![1]) % 2).toBe(0);
      expect(Number(m![1])).toBeGreaterThanOrEqual(22);
    }
    const label = runtime.lines.find((l) => l.startsWith('LABEL'))!;
    for (const k of ['title', 'description', 'version', 'revision', 'created', 'licenses', 'base.name'])
      expect(label).toContain(`org.opencontainers.image.${k}=`);
    expect(runtime.lines).toContain('ENTRYPOINT ["node", "/app/bin/asymroute.js"]');
    expect(runtime.lines).toContain('CMD ["serve"]');
    expect(runtime.lines).toContain('WORKDIR /app');
  });

  it('installs in its runtime stage the package of every binary in the exported list, and the list is complete', () => {
    const listed = new Map<string, string>(AGENT_BINARIES.map((b) => [b.binary, b.package]));
    // Every program the source spawns is in the list, and the scan read every spawn site.
    const { found: spawned, unread, unusedForwards } = spawnedBinaries();
    expect(unread, 'spawn sites whose program the scan cannot read: give a literal, or a FORWARDED entry').toEqual([]);
    expect(unusedForwards, 'FORWARDED entries that match no spawn site any more').toEqual([]);
    expect([...spawned].sort()).toEqual(
      expect.arrayContaining([
        'arping',
        'conntrack',
        'ip',
        'ip6tables-legacy-save',
        'ip6tables-nft-save',
        'iptables-nft-save',
        'iptables-save',
        'ndisc6',
        'nft',
        'setpriv',
        'ss',
        'tc',
        'tcpdump',
      ]),
    );
    for (const b of spawned) expect(listed.has(b), `${b} is spawned by the agent but missing from AGENT_BINARIES`).toBe(true);
    const installed = new Set(
      runtime.lines
        .filter((l) => l.startsWith('RUN') && l.includes('apt-get install'))
        .flatMap((l) => l.split('apt-get install')[1]!.split('&&')[0]!.trim().split(/\s+/))
        .filter((t) => !t.startsWith('-')),
    );
    for (const { binary, package: pkg } of AGENT_BINARIES) {
      // The declared package is the one that owns the binary on this Debian machine.
      const owner = debianPackage(binary);
      expect(owner.pkg, `${binary}'s package`).toBe(pkg);
      expect(installed, `${binary} comes from ${pkg}, which the runtime stage must install`).toContain(pkg);
    }
    expect(runtime.lines.some((l) => l.includes('--no-install-recommends') && l.includes('rm -rf /var/lib/apt/lists/*'))).toBe(true);
  });

  it('sends the build stage everything it copies, and nothing else (.dockerignore)', () => {
    const ignore = readFileSync(join(DOCKER_CONTEXT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    expect(ignore[0]).toBe('*');
    const allowed = new Set(ignore.filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/$/, '')));
    const copied = all[0]!.lines.filter((l) => /^COPY (?!--from)/.test(l)).flatMap((l) => l.split(/\s+/).slice(1, -1));
    expect(copied.length).toBeGreaterThan(4);
    for (const c of copied) expect(allowed, c).toContain(c.replace(/\/$/, ''));
    expect(allowed).not.toContain('node_modules');
  });

  it('ships a production dependency set that runs --help and analyze on a shipped capture', { timeout: 180_000 }, async () => {
    expect(existsSync(join(ROOT, 'dist', 'agent', 'main.js')), 'the build (npm run build) ran').toBe(true);
    const app = mkdtempSync(join(tmpdir(), 'asymroute-image-'));
    onTestFinished(() => rmSync(app, { recursive: true, force: true }));
    // The runtime stage's COPY --from=build lines, from the build output here (/app in the build stage = ROOT).
    for (const l of runtime.lines.filter((x) => x.startsWith('COPY --from=build'))) {
      const parts = l.split(/\s+/).slice(2);
      const dest = parts.pop()!;
      for (const src of parts) {
        expect(src.startsWith('/app/'), src).toBe(true);
        const rel = src.slice('/app/'.length);
        const to = dest.endsWith('/') || parts.length > 1 ? join(app, dest, basename(rel)) : join(app, dest);
        cpSync(join(ROOT, rel), to, { recursive: true });
      }
    }
    const npmLine = runtime.lines.find((l) => l.startsWith('RUN npm ci'))!;
    const npmArgs = npmLine.slice(4).split('&&')[0]!.trim().split(/\s+/).slice(1);
    expect(npmArgs).toContain('--omit=dev');
    // --prefer-offline: the packages are in npm's cache from the project's own install.
    const ci = await execa('npm', [...npmArgs, '--prefer-offline', '--loglevel=error'], {
      cwd: app,
      reject: false,
      env: { NODE_ENV: 'production' },
    });
    expect(ci.exitCode, ci.stderr).toBe(0);
    const modules = readdirSync(join(app, 'node_modules'));
    for (const dev of ['vitest', 'typescript', 'eslint', 'kubernetes-models', '@kubernetes-models'])
      expect(modules, dev).not.toContain(dev);
    for (const dep of Object.keys((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: object }).dependencies))
      expect(existsSync(join(app, 'node_modules', dep)), dep).toBe(true);

    const run = (args: string[]) =>
      execa(process.execPath, [join(app, 'bin', 'asymroute.js'), ...args], { cwd: app, reject: false, env: { ASYMROUTE_CONFIG: '' } });
    const help = await run(['--help']);
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toMatch(/commands:\n {2}check/);
    const analyze = await run(['analyze', join(app, 'captures', 'vagrant-incident.pcap')]);
    expect(analyze.stderr).toBe('');
    expect(analyze.stdout).toMatch(/arrived on eth1 and their replies left on eth0/);
    expect(analyze.exitCode).toBe(1); // findings of severity critical
    const schema = await run(['config-schema']);
    expect(JSON.parse(schema.stdout)).toMatchObject({ type: 'object', additionalProperties: false });
  });
});
