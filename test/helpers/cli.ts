// Runs the built CLI as a user would: `node bin/asymroute.js ...`, optionally inside a namespace.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { execa, type Options, type ResultPromise } from 'execa';
import { onTestFinished } from 'vitest';
import { until } from './wait.js';
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

/**
 * `asymroute serve ARGS --port 0` in this namespace, without capture; resolves once it logs "listening" (with the
 * port it got) and is stopped when the test finishes.
 */
export async function startServe(args: string[], startMs = 20_000): Promise<{ port: number; logs: string[]; agent: ResultPromise }> {
  ensureBuilt();
  const logs: string[] = [];
  const agent = execa(process.execPath, [BIN, 'serve', '--capture=false', '--port', '0', '--vip', '198.51.100.10', ...args], {
    reject: false,
    stdin: 'ignore',
    all: true,
    buffer: false,
    env: { ASYMROUTE_CONFIG: '', NODE_NAME: 'node-a' },
  });
  onTestFinished(async () => {
    agent.kill('SIGTERM');
    await agent;
  });
  collectLines(agent.all, logs);
  let port = 0;
  await until(
    () => {
      const l = logs.find((x) => x.includes('"event":"listening"'));
      if (l) port = (JSON.parse(l) as { port: number }).port;
      return port !== 0 || agent.exitCode !== null;
    },
    'the listening line',
    startMs,
  );
  if (!port) throw new Error(`serve did not start: ${logs.join('\n')}`);
  return { port, logs, agent };
}
