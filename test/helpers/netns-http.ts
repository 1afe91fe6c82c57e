// HTTP from inside a test namespace: the agent listens on that namespace's loopback, which the test process (in the
// root namespace) cannot reach, so a node process run in the namespace does the fetch.

import type { Netns } from '../../agent/netns/netns.js';

export const AGENT_PORT = 9472;

const GET_JS = `fetch(process.argv[1], { headers: { accept: process.argv[2] || '*/*' } }).then(async (r) => process.stdout.write(JSON.stringify({ status: r.status, type: r.headers.get('content-type'), body: await r.text() })), (e) => process.stdout.write(JSON.stringify({ status: 0, body: String(e) })));`;

export async function nsGet(
  ns: Netns,
  path: string,
  accept = '',
  port = AGENT_PORT,
): Promise<{ status: number; type: string | null; body: string }> {
  const r = await ns.exec([process.execPath, '-e', GET_JS, `http://127.0.0.1:${port}${path}`, accept], { timeoutMs: 15_000 });
  return JSON.parse(r.stdout) as { status: number; type: string | null; body: string };
}

/** The same wait as helpers/wait.ts, returning the first truthy value and naming what it waited for. */
export async function untilValue<T>(what: string, fn: () => Promise<T | null | false>, ms = 20_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
