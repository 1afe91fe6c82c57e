// Byte pipes between the root namespace's Unix sockets and TCP inside a test namespace, so that a test server
// reaches a namespace (and back) without an address or route in the root namespace. Each runs as a small node
// process inside the namespace; the caller kills it.

import { execa, type ResultPromise } from 'execa';

// Listens on 127.0.0.1:0 inside the namespace, prints the port, and pipes each connection to a Unix socket.
const INTO_SOCKET = `const net = require('net'); const s = net.createServer((c) => { const u = net.connect(process.argv[1]); c.pipe(u); u.pipe(c); c.on('error', () => u.destroy()); u.on('error', () => c.destroy()); }); s.listen(0, '127.0.0.1', () => console.log(s.address().port));`;
// Listens on a Unix socket and pipes each connection to 127.0.0.1:PORT inside the namespace.
const FROM_SOCKET = `const net = require('net'); const s = net.createServer((c) => { const u = net.connect(Number(process.argv[2]), '127.0.0.1'); c.pipe(u); u.pipe(c); c.on('error', () => u.destroy()); u.on('error', () => c.destroy()); }); s.listen(process.argv[1], () => console.log('listening'));`;

export interface Bridge {
  proc: ResultPromise;
  /** the TCP port inside the namespace (INTO_SOCKET), or 0 */
  port: number;
}

async function start(ns: string, script: string, args: string[], read: (line: string) => number): Promise<Bridge> {
  const proc = execa('ip', ['netns', 'exec', ns, process.execPath, '-e', script, ...args], {
    reject: false,
    stdin: 'ignore',
    buffer: false,
  });
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`the bridge in ${ns} did not start`)), 10_000);
    proc.stdout?.once('data', (d: Buffer) => {
      clearTimeout(t);
      resolve(read(String(d).trim()));
    });
    void proc.then((r) => reject(new Error(`the bridge in ${ns} exited: ${String(r.stderr ?? '')}`)));
  });
  return { proc, port };
}

/** TCP 127.0.0.1:PORT inside `ns` reaches the Unix socket `socket` (e.g. a test API server). */
export const bridgeToSocket = (ns: string, socket: string) => start(ns, INTO_SOCKET, [socket], Number);

/** The Unix socket `socket` reaches TCP 127.0.0.1:`port` inside `ns` (e.g. an agent, for a pod proxy). */
export const bridgeFromSocket = (ns: string, socket: string, port: number) => start(ns, FROM_SOCKET, [socket, String(port)], () => 0);
