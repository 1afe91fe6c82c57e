// Network namespaces for the demo and the scenario tests: created with unique names, torn down on every path.
// Nothing here touches the root namespace's links, addresses or routes.

import { execa } from 'execa';
import { pidAlive } from '../sources/pids.js';
import { validateIfname, validateNetnsName } from '../sources/validate.js';

export class NetnsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NetnsError';
  }
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export class Netns {
  constructor(readonly name: string) {
    validateNetnsName(name);
  }

  /** Runs a program inside the namespace (argument array, no shell). */
  async exec(argv: string[], opts: { timeoutMs?: number; check?: boolean; env?: Record<string, string> } = {}): Promise<ExecResult> {
    const r = await execa('ip', ['netns', 'exec', this.name, ...argv], {
      reject: false,
      timeout: opts.timeoutMs ?? 30_000,
      stdin: 'ignore',
      env: opts.env,
    });
    const res = { exitCode: r.exitCode ?? -1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
    if (opts.check !== false && res.exitCode !== 0) {
      throw new NetnsError(`in ${this.name}: ${argv.join(' ')} exited ${res.exitCode}: ${res.stderr.trim() || r.shortMessage}`);
    }
    return res;
  }

  /** `ip -n NAME ...` */
  async ip(args: string[], opts: { check?: boolean } = {}): Promise<ExecResult> {
    const r = await execa('ip', ['-n', this.name, ...args], { reject: false, timeout: 30_000, stdin: 'ignore' });
    const res = { exitCode: r.exitCode ?? -1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
    if (opts.check !== false && res.exitCode !== 0) {
      throw new NetnsError(`ip -n ${this.name} ${args.join(' ')} exited ${res.exitCode}: ${res.stderr.trim()}`);
    }
    return res;
  }

  async sysctl(key: string, value: string | number): Promise<void> {
    if (!/^[a-z0-9_.\-/]+$/i.test(key)) throw new NetnsError(`invalid sysctl key ${JSON.stringify(key)}`);
    await this.exec(['sysctl', '-q', '-w', `${key}=${value}`]);
  }
}

/** A set of namespaces that belong to one demo or test run. */
export class NetnsLab {
  readonly prefix: string;
  private readonly spaces: Netns[] = [];
  private readonly creating = new Set<Promise<unknown>>();
  private destroyed = false;

  constructor(tag: string) {
    // Short: names also appear in /run/netns, and a pid keeps parallel runs apart.
    this.prefix = validateNetnsName(`${tag}${process.pid}`);
  }

  async add(role: string): Promise<Netns> {
    if (this.destroyed) throw new NetnsError('namespace lab already torn down');
    const ns = new Netns(`${this.prefix}-${role}`);
    // Known before it exists, so a teardown that starts meanwhile deletes it too.
    this.spaces.push(ns);
    const creation = execa('ip', ['netns', 'add', ns.name], { reject: false, stdin: 'ignore' });
    this.creating.add(creation);
    const r = await creation.finally(() => this.creating.delete(creation));
    if (r.exitCode !== 0) throw new NetnsError(`ip netns add ${ns.name}: ${String(r.stderr).trim()}`);
    if (this.destroyed) throw new NetnsError('namespace lab already torn down');
    await ns.ip(['link', 'set', 'lo', 'up']);
    return ns;
  }

  /** A veth pair from a (named aName) to b (named bName), both up. */
  async link(a: Netns, aName: string, b: Netns, bName: string): Promise<void> {
    validateIfname(aName);
    validateIfname(bName);
    await a.ip(['link', 'add', 'name', aName, 'type', 'veth', 'peer', 'name', bName, 'netns', b.name]);
    await a.ip(['link', 'set', aName, 'up']);
    await b.ip(['link', 'set', bName, 'up']);
  }

  /** The namespaces of this lab, in creation order. */
  names(): string[] {
    return this.spaces.map((s) => s.name);
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await Promise.allSettled([...this.creating]);
    // Kill anything still running inside before deleting, so no process keeps a namespace alive.
    for (const ns of this.spaces.reverse()) {
      await execa('ip', ['netns', 'pids', ns.name], { reject: false, stdin: 'ignore' }).then(async (r) => {
        const pids = String(r.stdout ?? '')
          .split(/\s+/)
          .filter((p) => /^[0-9]+$/.test(p));
        for (const p of pids) {
          try {
            process.kill(Number(p), 'SIGKILL');
          } catch {
            // already gone
          }
        }
      });
      await execa('ip', ['netns', 'del', ns.name], { reject: false, stdin: 'ignore' });
    }
  }

  /** Deletes namespaces left by an earlier run of this tag whose process is gone. */
  static async reapStale(tag: string): Promise<string[]> {
    const r = await execa('ip', ['netns', 'list'], { reject: false, stdin: 'ignore' });
    const reaped: string[] = [];
    for (const line of String(r.stdout ?? '').split('\n')) {
      const name = line.split(' ')[0] ?? '';
      const m = new RegExp(`^${tag}([0-9]+)-`).exec(name);
      if (!m) continue;
      if (!pidAlive(Number(m[1]))) {
        await execa('ip', ['netns', 'del', name], { reject: false, stdin: 'ignore' });
        reaped.push(name);
      }
    }
    return reaped;
  }
}

// Small TCP programs run inside namespaces with the same node binary; passed as argv, not through a shell.
const SERVER_JS = `
const net = require('net');
const [host, port] = process.argv.slice(1);
const srv = net.createServer((s) => { s.on('error', () => {}); s.end('asymroute-demo\\n'); });
srv.listen({ host, port: Number(port) }, () => process.stdout.write('listening\\n'));
`;

const CLIENT_JS = `
const net = require('net');
const [host, port, ms] = process.argv.slice(1);
const t0 = Date.now();
const s = net.connect({ host, port: Number(port) });
const done = (r) => { process.stdout.write(JSON.stringify({ ...r, ms: Date.now() - t0 }) + '\\n'); s.destroy(); process.exit(0); };
s.setTimeout(Number(ms), () => done({ ok: false, error: 'timeout' }));
s.on('data', (d) => done({ ok: true, reply: String(d).trim() }));
s.on('error', (e) => done({ ok: false, error: e.code || e.message }));
`;

export interface TcpServer {
  stop(): Promise<void>;
}

export async function startTcpServer(ns: Netns, host: string, port: number): Promise<TcpServer> {
  const child = execa('ip', ['netns', 'exec', ns.name, process.execPath, '-e', SERVER_JS, host, String(port)], {
    reject: false,
    stdin: 'ignore',
    buffer: false,
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new NetnsError(`TCP server in ${ns.name} did not start within 10s`)), 10_000);
    child.stdout?.on('data', (d: Buffer) => {
      if (String(d).includes('listening')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new NetnsError(`TCP server in ${ns.name} exited with ${code}`));
    });
  });
  return {
    async stop() {
      child.kill('SIGTERM');
      await Promise.race([child, new Promise((r) => setTimeout(r, 2000))]);
      child.kill('SIGKILL');
    },
  };
}

export interface ConnectResult {
  ok: boolean;
  error?: string;
  reply?: string;
  ms: number;
}

export async function tcpConnect(ns: Netns, host: string, port: number, timeoutMs: number): Promise<ConnectResult> {
  const r = await ns.exec([process.execPath, '-e', CLIENT_JS, host, String(port), String(timeoutMs)], { timeoutMs: timeoutMs + 10_000 });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as ConnectResult;
  } catch {
    throw new NetnsError(`TCP client in ${ns.name} printed ${JSON.stringify(r.stdout)}`);
  }
}

const POKE_JS = `
const dgram = require('dgram');
const [host] = process.argv.slice(1);
const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
s.send(Buffer.from('poke'), 9, host, () => setTimeout(() => { s.close(); process.exit(0); }, 200));
s.on('error', () => process.exit(0));
`;

/** One UDP datagram to the discard port: enough for both ends to resolve each other's link-layer address. */
export async function udpPoke(ns: Netns, host: string): Promise<void> {
  await ns.exec([process.execPath, '-e', POKE_JS, host], { timeoutMs: 10_000 });
}
