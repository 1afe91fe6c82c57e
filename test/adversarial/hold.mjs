// Runs inside the agent's namespace: opens IDLE connections that never send a byte, and SLOW connections that send one
// GET for PATH and never read the answer; holds them all for the given milliseconds, then ends by itself.
// Prints one JSON line once every connection has opened or failed, and one at the end with what the server did.
import net from 'node:net';
import { setTimeout } from 'node:timers';

const [port, idle, slow, path, maxMs] = [
  Number(process.argv[2]),
  Number(process.argv[3]),
  Number(process.argv[4]),
  process.argv[5],
  Number(process.argv[6] ?? 60000),
];
const sockets = [];
const tally = { opened: 0, failed: 0, closedByServer: 0, errors: {} };
let pending = idle + slow;

function open(kind) {
  const s = net.connect({ host: '127.0.0.1', port });
  sockets.push(s);
  let settled = false;
  const settle = () => {
    if (settled) return;
    settled = true;
    if (--pending === 0) process.stdout.write(JSON.stringify({ kind: 'opened', ...tally }) + '\n');
  };
  s.on('connect', () => {
    tally.opened++;
    if (kind === 'slow') {
      s.write(`GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n`);
      s.pause(); // never read: the answer stays in the kernel's buffers and then in the server's
    }
    settle();
  });
  s.on('error', (e) => {
    tally.errors[e.code ?? 'error'] = (tally.errors[e.code ?? 'error'] ?? 0) + 1;
    if (!settled) tally.failed++;
    settle();
  });
  s.on('close', () => tally.closedByServer++);
}

// Opened in small batches: a burst of 1200 SYNs would overflow the listen backlog and measure that instead.
for (let i = 0; i < idle + slow; i += 50) {
  for (let j = i; j < Math.min(i + 50, idle + slow); j++) open(j < idle ? 'idle' : 'slow');
  await new Promise((r) => setTimeout(r, 10));
}

const end = () => {
  process.stdout.write(JSON.stringify({ kind: 'end', ...tally }) + '\n');
  for (const s of sockets) s.destroy();
  process.exit(0);
};
setTimeout(end, maxMs);
