// Runs the built CLI as a user would: `node bin/asymroute.js ...`, optionally inside a namespace.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { execa, type Options } from 'execa';
import type { Netns } from '../../agent/netns/netns.js';
import type { CheckReportJson } from '../../agent/exposition/check-report.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = `${ROOT}bin/asymroute.js`;

function ensureBuilt(): void {
  if (!existsSync(`${ROOT}dist/agent/main.js`))
    throw new Error('dist/ is missing: run `npm run build` before the tests (the test command does)');
}

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export async function runCli(
  args: string[],
  opts: { netns?: Netns; env?: Record<string, string>; extendEnv?: boolean } = {},
): Promise<CliResult> {
  ensureBuilt();
  const argv = opts.netns ? ['ip', 'netns', 'exec', opts.netns.name, process.execPath, BIN, ...args] : [process.execPath, BIN, ...args];
  const r = await execa(argv[0]!, argv.slice(1), {
    reject: false,
    stdin: 'ignore',
    timeout: 60_000,
    env: opts.env,
    extendEnv: opts.extendEnv ?? true,
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

export async function checkJson(args: string[], netns?: Netns): Promise<{ exitCode: number; report: CheckReportJson; stderr: string }> {
  const r = await runCli(['check', '--json', ...args], { netns });
  let report: CheckReportJson;
  try {
    report = JSON.parse(r.stdout) as CheckReportJson;
  } catch {
    throw new Error(`check --json printed no JSON (exit ${r.exitCode}): ${r.stdout}\n${r.stderr}`);
  }
  return { exitCode: r.exitCode, report, stderr: r.stderr };
}

export const findingTypes = (r: CheckReportJson) => r.findings.map((f) => f.type).sort();

/** `asymroute serve ARGS` started by the built CLI inside a namespace; the caller keeps and stops the process. */
export function serveInNetns<O extends Options>(nsName: string, args: string[], opts: O) {
  ensureBuilt();
  return execa('ip', ['netns', 'exec', nsName, process.execPath, BIN, 'serve', ...args], opts);
}

/** Collects a child's output as whole lines: a chunk may end mid-line, and half a JSON log line matches nothing. */
export function collectLines(stream: NodeJS.ReadableStream | null | undefined, lines: string[] = []): string[] {
  let partial = '';
  stream?.on('data', (d: Buffer) => {
    const parts = (partial + String(d)).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts.filter(Boolean));
  });
  stream?.on('end', () => {
    if (partial) lines.push(partial);
    partial = '';
  });
  return lines;
}
