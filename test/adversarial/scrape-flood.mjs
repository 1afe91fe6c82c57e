// Runs inside the agent's namespace: CLIENTS clients, each asking for /metrics over and over on a fresh connection,
// for the given milliseconds; then it ends by itself and prints one JSON line: answers by status, and errors.
import http from 'node:http';
import { setTimeout } from 'node:timers';

const [port, clients, maxMs] = [Number(process.argv[2]), Number(process.argv[3]), Number(process.argv[4] ?? 10000)];
const end = Date.now() + maxMs;
const tally = { requests: 0, byStatus: {}, errors: {} };

function once() {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/metrics', agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => {
        tally.byStatus[res.statusCode] = (tally.byStatus[res.statusCode] ?? 0) + 1;
        resolve();
      });
      res.on('error', () => resolve());
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (e) => {
      tally.errors[e.code ?? 'error'] = (tally.errors[e.code ?? 'error'] ?? 0) + 1;
      resolve();
    });
    tally.requests++;
  });
}

async function client() {
  while (Date.now() < end) {
    await once();
    await new Promise((r) => setTimeout(r, 1));
  }
}

await Promise.all(Array.from({ length: clients }, client));
process.stdout.write(JSON.stringify(tally) + '\n');
