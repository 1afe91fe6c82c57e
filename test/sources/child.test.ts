// Children die with the agent, even on SIGKILL: a real Node process (the built agent modules) starts long-running
// children through spawnChild, runTool and spawnTcpdump, is killed with SIGKILL, and no process marked with its pid
// may survive. A spawn the system refuses (EMFILE) is reported, never thrown.

import { execa, type ResultPromise } from 'execa';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { NetnsLab } from '../../agent/netns/netns.js';
import { markedChildren } from '../../agent/sources/child.js';
import { tcpdumpPrivilegeDrop } from '../../agent/capture/tcpdump.js';
import { ROOT } from '../helpers/cli.js';
import { describeAsRoot } from '../helpers/root.js';
import { until } from '../helpers/wait.js';

const DIST = `${ROOT}dist/agent`;

// A stand-in agent: starts the children the script names, prints their pids as one JSON line, then waits.
function stub(body: string, netns?: string): ResultPromise {
  const script = `
    import { spawnChild } from '${DIST}/sources/child.js';
    import { runTool } from '${DIST}/sources/tool.js';
    import { spawnTcpdump } from '${DIST}/capture/tcpdump.js';
    const pids = [];
    ${body}
    console.log(JSON.stringify(pids));
    setInterval(() => {}, 1000);
  `;
  const argv = [process.execPath, '--input-type=module', '-e', script];
  const [cmd, ...args] = netns ? ['ip', 'netns', 'exec', netns, ...argv] : argv;
  return execa(cmd!, args, { reject: false, stdin: 'ignore', buffer: false });
}

async function pidsOf(p: ResultPromise): Promise<number[]> {
  let out = '';
  p.stdout!.on('data', (d: Buffer) => (out += String(d)));
  await until(() => out.includes('\n'), 'the stub to start its children', 15_000);
  return JSON.parse(out.split('\n')[0]!) as number[];
}

const childrenOf = async (owner: number) => (await markedChildren()).filter((c) => c.owner === owner);

// Children still alive: a killed child is a zombie until init reaps it, which is gone as far as work goes.
function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

let running: ResultPromise | null = null;
afterEach(async () => {
  const owner = running?.pid;
  running?.kill('SIGKILL');
  await running;
  running = null;
  // A failing run must not leave its children behind either.
  for (const c of owner ? await childrenOf(owner) : []) {
    try {
      process.kill(c.pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
});

describe('children die with the agent', () => {
  it('a SIGKILLed agent leaves no marked child behind (spawnChild and runTool)', { timeout: 30_000 }, async () => {
    running = stub(`
      pids.push(spawnChild('sleep', ['60']).pid);
      void runTool('sleep', ['61'], { missing: 'sleep is missing', timeoutMs: 60_000 }).catch(() => {});
    `);
    const agent = running.pid!;
    await pidsOf(running);
    await until(async () => (await childrenOf(agent)).length === 2, 'both children to run, marked with the agent pid');
    const children = await childrenOf(agent);
    expect(children.map((c) => c.comm).sort()).toEqual(['sleep', 'sleep']);
    process.kill(agent, 'SIGKILL');
    await until(() => children.every((c) => !alive(c.pid)), 'the children to die with the agent', 5000);
  });

  it('a program that does not exist is ENOENT, not its exit status 127', { timeout: 15_000 }, async () => {
    const { spawnChild } = await import('../../agent/sources/child.js');
    const { runTool } = await import('../../agent/sources/tool.js');
    expect((await spawnChild('asymroute-no-such-binary', []).done).code).toBe('ENOENT');
    await expect(runTool('asymroute-no-such-binary', [], { missing: 'install it', timeoutMs: 5000 })).rejects.toThrow('install it');
    // A program that exits 127 by itself is an exit status.
    const r = await runTool('sh', ['-c', 'exit 127'], { missing: 'install sh', timeoutMs: 5000 });
    expect(r.exitCode).toBe(127);
  });

  it('a spawn refused for lack of file descriptors is reported, and the next one works', { timeout: 30_000 }, async () => {
    const script = `
      import { openSync, closeSync } from 'node:fs';
      import { spawnChild } from '${DIST}/sources/child.js';
      import { runTool } from '${DIST}/sources/tool.js';
      const fds = [];
      try { for (;;) fds.push(openSync('/dev/null', 'r')); } catch {}
      const a = await spawnChild('true', []).done;
      const b = await runTool('true', [], { missing: 'x', timeoutMs: 5000 }).then(() => 'ran', (e) => e.name + ': ' + e.message);
      for (const fd of fds) closeSync(fd);
      const c = await spawnChild('true', []).done;
      console.log(JSON.stringify({ a, b, c }));
    `;
    const r = await execa('prlimit', ['--nofile=64', process.execPath, '--input-type=module', '-e', script], { reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { a: { code: string }; b: string; c: { exitCode: number; code: string | null } };
    expect(out.a.code).toBe('EMFILE');
    expect(out.b).toMatch(/^EnvironmentError: running true {2}failed: spawn .* EMFILE/);
    expect(out.c).toMatchObject({ exitCode: 0, code: null });
  });
});

describe('tcpdump privilege drop', () => {
  it('is made by setpriv only as root on a system with a tcpdump user, keeping the capture capabilities held', () => {
    const passwd = 'root:x:0:0::/root:/bin/sh\ntcpdump:x:104:109::/nonexistent:/usr/sbin/nologin\n';
    const raw = 1n << 13n;
    const admin = 1n << 12n;
    expect(
      tcpdumpPrivilegeDrop(
        1000,
        () => passwd,
        () => raw | admin,
      ),
    ).toEqual([]);
    expect(
      tcpdumpPrivilegeDrop(
        0,
        () => 'root:x:0:0::/root:/bin/sh\n',
        () => raw,
      ),
    ).toEqual([]);
    const both = tcpdumpPrivilegeDrop(
      0,
      () => passwd,
      () => raw | admin,
    );
    expect(both).toEqual([
      '--reuid',
      'tcpdump',
      '--regid',
      'tcpdump',
      '--clear-groups',
      '--inh-caps',
      '-all,+net_raw,+net_admin',
      '--ambient-caps',
      '-all,+net_raw,+net_admin',
    ]);
    expect(
      tcpdumpPrivilegeDrop(
        0,
        () => passwd,
        () => raw,
      ),
    ).toContain('-all,+net_raw');
  });
});

describeAsRoot('tcpdump dies with the agent', () => {
  let lab: NetnsLab | null = null;
  afterEach(async () => {
    await lab?.destroy();
    lab = null;
  });

  it('runs as its own user with the capture capabilities, and is gone after the agent is SIGKILLed', { timeout: 30_000 }, async () => {
    lab = new NetnsLab('archild');
    const ns = await lab.add('node');
    running = stub(`pids.push(spawnTcpdump(['-i', 'lo', '-w', '-', '-U']).pid);`, ns.name);
    const [setprivPid] = await pidsOf(running);
    await until(() => {
      try {
        return readFileSync(`/proc/${setprivPid}/comm`, 'utf8').trim() === 'tcpdump';
      } catch {
        return false;
      }
    }, 'setpriv to exec tcpdump');
    const status = readFileSync(`/proc/${setprivPid}/status`, 'utf8');
    const uid = Number(/^Uid:\s+(\d+)/m.exec(status)![1]);
    if (/^tcpdump:/m.test(readFileSync('/etc/passwd', 'utf8'))) expect(uid).not.toBe(0);
    const agent = running.pid!;
    process.kill(agent, 'SIGKILL');
    await until(() => !alive(setprivPid!), 'tcpdump to die with the agent', 5000);
  });
});
