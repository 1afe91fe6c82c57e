// Runs one of the binaries the agent depends on (ip, ss, arping, ndisc6) with an argument array, in the C locale and
// bounded in time. A binary that is missing, or that could not be started or finished in time, is an
// EnvironmentError that says what to install or what went wrong; an exit code is the caller's to read.

import { execFile } from 'node:child_process';
import { childEnv, execFailed, withParentDeath } from './child.js';

export class EnvironmentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EnvironmentError';
  }
}

export interface ToolResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

const strip = (s: string) => (s.endsWith('\n') ? s.slice(0, s.endsWith('\r\n') ? -2 : -1) : s);

// node:child_process directly, not execa: a check spawns a dozen tools, and execa cost about 6 ms of the agent's CPU
// per spawn against 2.7 ms (measured on this machine), most of the agent's CPU at rest. Started through setpriv
// (child.ts), so a tool still running when the agent is killed dies with it. A tool that cannot be started (EMFILE,
// EAGAIN, ENOMEM) is an EnvironmentError like any other failure: the caller reports it and tries again later.
export function runTool(binary: string, args: readonly string[], opts: { missing: string; timeoutMs: number }): Promise<ToolResult> {
  const [cmd, argv] = withParentDeath(binary, args);
  return new Promise((resolve, reject) => {
    // execFile reports most spawn failures to its callback, but throws a few (ENOMEM) at once.
    try {
      execFile(
        cmd,
        argv,
        { timeout: opts.timeoutMs, killSignal: 'SIGKILL', env: childEnv({ LC_ALL: 'C' }), maxBuffer: 100 << 20, encoding: 'utf8' },
        (err, stdout, stderr) => {
          if (!err) return resolve({ exitCode: 0, stdout: strip(stdout), stderr: strip(stderr) });
          if (err.code === 'ENOENT' || (typeof err.code === 'number' && execFailed(err.code, stderr)))
            return reject(new EnvironmentError(opts.missing));
          if (typeof err.code === 'number' && !err.killed)
            return resolve({ exitCode: err.code, stdout: strip(stdout), stderr: strip(stderr) });
          reject(
            new EnvironmentError(
              `running ${binary} ${args.join(' ')} failed: ${err.killed ? `timed out after ${opts.timeoutMs} ms` : err.message}`,
            ),
          );
        },
      );
    } catch (e) {
      reject(new EnvironmentError(`running ${binary} ${args.join(' ')} failed: ${(e as Error).message}`));
    }
  });
}
