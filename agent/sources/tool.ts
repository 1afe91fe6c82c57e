// Runs one of the binaries the agent depends on (ip, ss, arping, ndisc6) with an argument array, in the C locale and
// bounded in time. A binary that is missing, or that could not be started or finished in time, is an
// EnvironmentError that says what to install or what went wrong; an exit code is the caller's to read.

import { execFile } from 'node:child_process';

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
// per spawn against 2.7 ms (measured on this machine), most of the agent's CPU at rest.
export function runTool(binary: string, args: readonly string[], opts: { missing: string; timeoutMs: number }): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    execFile(
      binary,
      [...args],
      { timeout: opts.timeoutMs, killSignal: 'SIGKILL', env: { ...process.env, LC_ALL: 'C' }, maxBuffer: 100 << 20, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (!err) return resolve({ exitCode: 0, stdout: strip(stdout), stderr: strip(stderr) });
        if (err.code === 'ENOENT') return reject(new EnvironmentError(opts.missing));
        if (typeof err.code === 'number' && !err.killed)
          return resolve({ exitCode: err.code, stdout: strip(stdout), stderr: strip(stderr) });
        reject(
          new EnvironmentError(
            `running ${binary} ${args.join(' ')} failed: ${err.killed ? `timed out after ${opts.timeoutMs} ms` : err.message}`,
          ),
        );
      },
    );
  });
}
