// The connection bound on a real server over loopback: a flood of idle sockets, or of readers that never read, does
// not lock out the next client (the kubelet's probe); the idle ones go first, then the oldest.

import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { boundConnections } from '../../agent/exposition/connections.js';
import { until } from '../helpers/wait.js';

let server: Server | null = null;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  server?.closeAllConnections();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = null;
});

const BIG = Buffer.alloc(4 << 20, 'x');

let requests = 0;

async function start(cap: number) {
  requests = 0;
  server = createServer((req, res) => {
    requests++;
    if (req.url === '/big') res.end(BIG);
    else res.end('ok');
  });
  const bound = boundConnections(server, cap);
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, bound };
}

function open(port: number, request?: string): Promise<Socket> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => {
      if (request) s.write(`GET ${request} HTTP/1.1\r\nHost: x\r\n\r\n`);
      resolve(s);
    });
    s.on('error', () => undefined);
    if (request) s.pause(); // never reads: the response stays in the buffers
    sockets.push(s);
  });
}

const closed = (s: Socket) => s.destroyed || s.readyState === 'closed';

describe('boundConnections', () => {
  it('keeps serving when idle sockets fill the cap, closing the oldest idle ones', async () => {
    const { port, bound } = await start(8);
    const idle: Socket[] = [];
    for (let i = 0; i < 20; i++) idle.push(await open(port));
    await until(() => bound.evicted >= 12, '12 idle sockets evicted');
    const r = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(await r.text()).toBe('ok');
    expect(bound.open).toBeLessThanOrEqual(8);
    // The oldest went first: the first twelve are closed, the newest are still open.
    await until(() => idle.slice(0, 12).every(closed), 'the oldest idle sockets to close');
    expect(idle.slice(-4).some(closed)).toBe(false);
  });

  it('closes idle sockets before readers that do not read, and those only when nothing idle is left', async () => {
    const { port, bound } = await start(6);
    const slow: Socket[] = [];
    for (let i = 0; i < 4; i++) slow.push(await open(port, '/big'));
    await until(() => bound.open === 4, 'the slow readers to be accepted');
    const idle = [await open(port), await open(port)];
    await until(() => bound.open === 6, 'the cap to fill');
    await fetch(`http://127.0.0.1:${port}/healthz`);
    await until(() => idle.some(closed), 'an idle socket to make room');
    expect(slow.some(closed)).toBe(false);
  });

  it('closes the oldest reader that does not read when every connection is busy', async () => {
    const { port, bound } = await start(3);
    const slow: Socket[] = [];
    for (let i = 0; i < 3; i++) {
      slow.push(await open(port, '/big'));
      await until(() => requests === i + 1, 'the slow reader to be answered');
    }
    expect(await (await fetch(`http://127.0.0.1:${port}/healthz`)).text()).toBe('ok');
    expect(bound.evicted).toBe(1);
    // A paused socket notices nothing: read now. The oldest got its response cut, the others get all of it.
    const got = slow.map((sock) => {
      const r = { bytes: 0, ended: false };
      sock.on('data', (d: Buffer) => (r.bytes += d.length));
      sock.on('close', () => (r.ended = true));
      sock.resume();
      return r;
    });
    await until(
      () => got[0]!.ended && got.slice(1).every((r) => r.bytes > BIG.length),
      `the readers to read what they were sent: ${JSON.stringify(got)}`,
    );
    expect(got[0]!.bytes).toBeLessThan(BIG.length);
    expect(got.slice(1).some((r) => r.ended)).toBe(false);
  });
});
