// Runs one of the binaries the agent depends on (ip, ss, arping, ndisc6) with an argument array, in the C locale and
// bounded in time. A binary that is missing, or that could not be started or finished in time, is an
// EnvironmentError that says what to install or what went wrong; an exit code is the caller's to read.


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

export async function runTool(binary: string, args: readonly string[], opts: { missing: string; timeoutMs: number }): Promise<ToolResult> {
  try {
    // Loaded on first use: `--help` and `analyze` never spawn anything.
    const { execa } = await import('execa');
    const r = await execa(binary, [...args], { reject: false, timeout: opts.timeoutMs, stdin: 'ignore', env: { LC_ALL: 'C' }, extendEnv: true });
    if (r.failed && r.exitCode === undefined) {
      const code = (r as unknown as { code?: string }).code;
      if (code === 'ENOENT') throw new EnvironmentError(opts.missing);
      throw new EnvironmentError(`running ${binary} ${args.join(' ')} failed: ${r.shortMessage ?? r.message}`);
    }
    return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
  } catch (e) {
    if (e instanceof EnvironmentError) throw e;
    if ((e as { code?: string }).code === 'ENOENT') throw new EnvironmentError(opts.missing);
    throw e;
  }
}
