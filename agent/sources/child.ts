// Every process the agent starts (tcpdump, ip monitor, and the short-lived ip, ss, arping, ndisc6, tc, nft, …) goes
// through here: it is marked with the agent's pid in its environment, reaped, and dies with the agent even when the
// agent is killed with SIGKILL. The last needs a parent-death signal set in the child before it execs, which Node
// cannot do, so each child is started through util-linux `setpriv --pdeathsig KILL` (an Essential Debian package).
// Not execa: it added about 8 MiB to the agent's resident memory (docs/benchmark.md).

import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

/** Marks every child in its environment with the pid of the agent that started it. */
export const CHILD_MARKER = 'ASYMROUTE_AGENT_PID';

export interface ChildExit {
  exitCode: number | null;
  signal: string | null;
  /** 'ENOENT' when the binary was not found; 'EMFILE', 'EAGAIN', … when it could not be started */
  code: string | null;
}

export interface Child {
  proc: ChildProcess;
  readonly pid: number | undefined;
  /** resolves once the child has exited (or could not start), never rejects */
  done: Promise<ChildExit>;
}

/** How a child is tied to the agent's life: 'setpriv' (killed with it), or null when setpriv is missing. */
export interface Reaper {
  readonly path: string | null;
}

let reaperPath: string | null | undefined;

/** setpriv on PATH, looked up once. */
export function reaper(): Reaper {
  if (reaperPath === undefined) {
    reaperPath = null;
    for (const dir of (process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter)) {
      if (dir && existsSync(join(dir, 'setpriv'))) {
        reaperPath = join(dir, 'setpriv');
        break;
      }
    }
  }
  return { path: reaperPath };
}

// setpriv's exit status when it could not exec the program (util-linux EX_EXEC_ENOENT / EX_EXEC_FAILED).
const SETPRIV_ENOENT = 127;
const SETPRIV_FAILED_EXEC = /^setpriv: failed to execute/m;

/**
 * The argv that starts `cmd args` with a parent-death signal: KILL when the agent's main thread ends. `setprivArgs`
 * go before it (e.g. a change of user); setpriv applies the death signal after them, since the kernel clears it on
 * a change of credentials.
 */
export function withParentDeath(cmd: string, args: readonly string[], setprivArgs: readonly string[] = []): [string, string[]] {
  const path = reaper().path;
  if (!path) return [cmd, [...args]];
  return [path, [...setprivArgs, '--pdeathsig', 'KILL', '--', cmd, ...args]];
}

/** Whether a child that exited with this status and stderr was never started because setpriv found no such program. */
export function execFailed(exitCode: number | null, stderr: string): boolean {
  return reaper().path !== null && exitCode === SETPRIV_ENOENT && SETPRIV_FAILED_EXEC.test(stderr);
}

const live = new Set<ChildProcess>();
let hooked = false;

function killAllOnExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const c of live) {
      try {
        c.kill('SIGTERM');
      } catch {
        // gone, or no permission: nothing left to do on the way out
      }
    }
  });
}

/** The environment of a child: the agent's, the marker, then `env`. */
export function childEnv(env: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, [CHILD_MARKER]: String(process.pid), ...env };
}

/**
 * Spawns with stdin ignored and stdout/stderr piped as Buffers; `env` is added to the agent's environment. A child
 * that cannot be started (EMFILE, EAGAIN, ENOMEM, ENOENT) resolves `done` with that code: never a throw.
 */
export function spawnChild(
  cmd: string,
  args: readonly string[],
  env: Record<string, string> = {},
  setprivArgs: readonly string[] = [],
): Child {
  killAllOnExit();
  const [bin, argv] = withParentDeath(cmd, args, setprivArgs);
  let proc: ChildProcess;
  try {
    proc = spawn(bin, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv(env) });
  } catch (e) {
    // Node throws for the errors it does not report as an 'error' event (ENOMEM, for one).
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    return { proc: new ChildProcess(), pid: undefined, done: Promise.resolve({ exitCode: null, signal: null, code }) };
  }
  live.add(proc);
  // setpriv's own complaint, to tell "no such program" from the program's exit status 127.
  let head = '';
  proc.stderr?.on('data', (d: Buffer) => {
    if (head.length < 512) head += d.toString('latin1');
  });
  const done = new Promise<ChildExit>((resolve) => {
    let settled = false;
    const finish = (e: ChildExit) => {
      if (settled) return;
      settled = true;
      live.delete(proc);
      resolve(e);
    };
    // on, not once: a failed kill() is also an 'error' event, and an unhandled one would end the agent.
    proc.on('error', (err: NodeJS.ErrnoException) => finish({ exitCode: null, signal: null, code: err.code ?? 'error' }));
    // 'close': the exit and the end of both pipes, so every byte of output has been delivered.
    proc.once('close', (exitCode, signal) => finish({ exitCode, signal, code: execFailed(exitCode, head) ? 'ENOENT' : null }));
  });
  return {
    proc,
    get pid() {
      return proc.pid;
    },
    done,
  };
}

/** Processes that carry the child marker, with the pid of the agent that started them and their command name. */
export async function markedChildren(marker = CHILD_MARKER): Promise<Array<{ pid: number; owner: number; comm: string }>> {
  const out: Array<{ pid: number; owner: number; comm: string }> = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  const re = new RegExp(`(?:^|\\0)${marker}=(\\d+)(?:\\0|$)`);
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const m = re.exec(await readFile(`/proc/${e}/environ`, 'latin1'));
      if (m) out.push({ pid: Number(e), owner: Number(m[1]), comm: (await readFile(`/proc/${e}/comm`, 'utf8')).trim() });
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return out;
}
