// Runs inside the agent's namespace (its API is on that namespace's loopback): GET /healthz every 100 ms on a fresh
// connection on the probe port, as the kubelet's probe does, the same on the API port (where curl and an operator's
// own checks go), and /metrics every second; one JSON line per answer on stdout. Ends when its stdin closes, or after
// the given number of milliseconds at the latest.
// Arguments: API_PORT MAX_MS [PROBE_PORT] (without a probe port, the kubelet's probes go to the API port).
import { Buffer } from 'node:buffer';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout } from 'node:timers';

const port = Number(process.argv[2]);
const maxMs = Number(process.argv[3] ?? 120000);
const probePort = Number(process.argv[4] ?? port);
const t0 = Date.now();
let stopping = false;

function get(path, timeoutMs, keepBody, to = port) {
  const start = performance.now();
  return new Promise((resolve) => {
    const req = http.get(
      { host: '127.0.0.1', port: to, path, agent: false, headers: { connection: 'close' }, timeout: timeoutMs },
      (res) => {
        const chunks = [];
        let bytes = 0;
        res.on('data', (d) => {
          bytes += d.length;
          if (keepBody) chunks.push(d);
        });
        res.on('end', () =>
          resolve({ status: res.statusCode, ms: performance.now() - start, bytes, body: keepBody ? Buffer.concat(chunks).toString() : '' }),
        );
        res.on('error', (e) => resolve({ status: 0, ms: performance.now() - start, error: e.code ?? String(e) }));
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (e) => resolve({ status: 0, ms: performance.now() - start, error: e.code ?? String(e) }));
  });
}

const emit = (o) => process.stdout.write(JSON.stringify({ t: Date.now(), ...o }) + '\n');

async function healthLoop(kind, to) {
  while (!stopping && Date.now() - t0 < maxMs) {
    const r = await get('/healthz', 5000, false, to);
    emit({ kind, status: r.status, ms: r.ms, error: r.error });
    await new Promise((res) => setTimeout(res, 100));
  }
}

async function metricsLoop() {
  while (!stopping && Date.now() - t0 < maxMs) {
    const r = await get('/metrics', 10000, true);
    const series = r.status === 200 ? r.body.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length : null;
    emit({ kind: 'metrics', status: r.status, ms: r.ms, bytes: r.bytes ?? 0, series, error: r.error });
    await new Promise((res) => setTimeout(res, 1000));
  }
}

process.stdin.on('end', () => (stopping = true));
process.stdin.on('close', () => (stopping = true));
process.stdin.resume();
emit({ kind: 'started' });
await Promise.all([healthLoop('healthz', probePort), ...(probePort !== port ? [healthLoop('healthz-api', port)] : []), metricsLoop()]);
process.exit(0);
