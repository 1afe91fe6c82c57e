// The agent's HTTP interface (fastify): the incident report for curl, health, metrics and the JSON API. It reads
// the agent only through AgentView and the static check's read-only view; the monitors' endpoints come from them.

import { createServer, type Server } from 'node:http';
import type { Server as TlsServer } from 'node:tls';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import type { Registry } from 'prom-client';
import type { CheckResult } from '../reply-path/check.js';
import { sortFindings } from '../findings/registry.js';
import type { HostSnapshot } from '../model/host-state.js';
import type { CheckStatus } from '../reply-path/check-monitor.js';
import { RequestError, type AgentView } from '../findings/monitor.js';
import { checkReportJson, checkReportText } from './check-report.js';
import { boundConnections } from './connections.js';
import { authMetrics, permissionFor, requestToken, type Authorizer } from './auth.js';
import type { ServingCertificate } from './tls.js';

/** What the report's header and body need from the static check. */
export interface CheckView {
  readonly result: CheckResult | null;
  readonly snapshot: HostSnapshot | null;
  readonly status: CheckStatus;
}

export interface HttpOptions {
  agent: AgentView;
  checks: CheckView;
  registry: Registry;
  node: string;
  version: string;
  /** where the VIPs come from, as the report's header says it */
  vipSource: string;
  /** concurrent scrapes within this age share one rendering (default LIMITS.metricsMaxAgeMs; tests use 0) */
  metricsMaxAgeMs?: number;
  /** GET /v1/capture: off by default; headers only unless `payloads` */
  pcapDownload:
    | { enabled: false }
    | {
        enabled: true;
        /** whole packets may be asked for (?payloads=true) */
        payloads: boolean;
        maxSeconds: number;
        maxBytes: number;
        run: (seconds: number, maxBytes: number, payloads: boolean, reply: FastifyReply) => Promise<void>;
      };
  /** bearer tokens checked on every path but the probes; null or absent: no authentication */
  auth?: Authorizer | null;
  /** HTTPS with this certificate, replaced on the live server as it rotates */
  tls?: ServingCertificate | null;
}

/** The HTTP server's bounds; every one of them ends or refuses a client rather than letting it pile up. */
export const LIMITS = {
  /** open connections; past it the idle, then the oldest, are closed (connections.ts), never the newest refused */
  connections: 256,
  /**
   * connections the kernel queues before the agent accepts them (Node's default, 511, is less than a flood of
   * scrapers: a probe whose SYN finds the queue full waits for its 1 s retransmission); capped by net.core.somaxconn
   */
  acceptBacklog: 4096,
  socketIdleMs: 30_000,
  keepAliveMs: 5_000,
  requestMs: 30_000,
  requestsPerSocket: 1000,
  bodyBytes: 4096,
  /** concurrent scrapes within this age share one rendering */
  metricsMaxAgeMs: 1000,
};

/**
 * One rendering for every caller within `maxAgeMs` (and one at a time): a flood of scrapes costs one render a second,
 * so the event loop stays free for /healthz.
 */
export function singleFlight<T>(make: () => Promise<T>, maxAgeMs: number, now: () => number = Date.now): () => Promise<T> {
  let last: { at: number; value: Promise<T> } | null = null;
  return () => {
    const t = now();
    if (last && t - last.at < maxAgeMs) return last.value;
    const value = make();
    last = { at: t, value };
    // A failed rendering is not served to the next caller.
    value.catch(() => {
      if (last?.value === value) last = null;
    });
    return value;
  };
}

type ProbeAnswer = () => { code: number; body: unknown };

/** /healthz (the agent and its monitors are alive) and /readyz (a check has succeeded), for both listeners. */
function probeAnswers(a: AgentView, checks: CheckView): Record<'/healthz' | '/readyz', ProbeAnswer> {
  return {
    '/healthz': () => {
      const h = a.health();
      const failing = Object.values(h.monitors).find((m) => !m.ok);
      const detail = Object.assign({}, ...Object.values(h.monitors).map((m) => m.detail ?? {}));
      return {
        code: h.ok ? 200 : 503,
        body: { status: failing ? failing.state : 'ok', ...detail, monitors: h.monitors, supervised: h.children },
      };
    },
    '/readyz': () => {
      const ready = a.ready();
      return { code: ready ? 200 : 503, body: { ready, lastCheck: checks.status } };
    },
  };
}

/** The probe listener's own bounds: only the kubelet (or curl) comes here, a few connections at a time. */
export const PROBE_LIMITS = { connections: 64, socketIdleMs: 10_000, requestMs: 10_000 };

/**
 * The probe listener (--probe-port): /healthz and /readyz alone, plain HTTP, on a socket of its own, so the
 * kubelet's probes never wait in the accept queue or connection bound of the main port behind scrapers and readers.
 */
export function buildProbeHttp(agent: AgentView, checks: CheckView): Server {
  const answers: Record<string, ProbeAnswer> = probeAnswers(agent, checks);
  const server = createServer(
    { requestTimeout: PROBE_LIMITS.requestMs, headersTimeout: PROBE_LIMITS.requestMs, keepAliveTimeout: 5_000 },
    (req, res) => {
      const path = (req.url ?? '/').split('?')[0]!;
      const answer = answers[path];
      let code: number;
      let body: unknown;
      if (!answer)
        [code, body] = [
          404,
          { error: `no such endpoint: ${path}; this port answers only /healthz and /readyz`, endpoints: Object.keys(answers) },
        ];
      else if (req.method !== 'GET' && req.method !== 'HEAD') [code, body] = [405, { error: `${req.method} not allowed; use GET` }];
      else ({ code, body } = answer());
      const text = JSON.stringify(body);
      res.writeHead(code, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
      res.end(req.method === 'HEAD' ? undefined : text);
      req.resume();
    },
  );
  server.setTimeout(PROBE_LIMITS.socketIdleMs, (socket) => socket.destroy());
  boundConnections(server, PROBE_LIMITS.connections);
  return server;
}

function wantsJson(accept: string | undefined, format: unknown): boolean {
  if (format === 'json') return true;
  if (format === 'text') return false;
  return typeof accept === 'string' && accept.includes('application/json') && !accept.includes('text/plain');
}

/** Query parameters, each given at most once. */
function singleQuery(q: Record<string, unknown>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(q)) {
    if (typeof v !== 'string') throw new RequestError(`query parameter ${k} given more than once`);
    out[k] = v;
  }
  return out;
}

export function buildHttp(o: HttpOptions): FastifyInstance {
  // A slow or idle client cannot hold a socket for long, nor open sockets without end (issue 12's slow readers).
  // fastify types an HTTPS instance apart; the routes below are the same for both.
  const app = Fastify({
    logger: false,
    connectionTimeout: LIMITS.socketIdleMs,
    keepAliveTimeout: LIMITS.keepAliveMs,
    requestTimeout: LIMITS.requestMs,
    maxRequestsPerSocket: LIMITS.requestsPerSocket,
    bodyLimit: LIMITS.bodyBytes,
    ...(o.tls ? { https: o.tls.current() } : {}),
  }) as unknown as FastifyInstance;
  boundConnections(app.server, LIMITS.connections);
  const tls = o.tls;
  if (tls) {
    tls.watch((pair) => (app.server as unknown as TlsServer).setSecureContext(pair));
    app.addHook('onClose', async () => tls.stop());
  }
  const auth = o.auth;
  if (auth) {
    const counted = authMetrics(o.registry);
    app.addHook('onRequest', async (req, reply) => {
      const p = permissionFor(req.url.split('?')[0]!, req.query as Record<string, unknown>);
      if (p === null) return;
      const d = await auth.authorize(requestToken(req.headers), p);
      counted(p, d);
      if (d.ok) return;
      if (d.code === 401) void reply.header('www-authenticate', 'Bearer realm="asymroute"');
      return reply
        .code(d.code)
        .type('application/json')
        .send({ error: d.error, ...(d.permission ? { permission: d.permission } : {}) });
    });
  }
  const metrics = singleFlight(() => {
    // The findings gauges move when findings are gathered: gather now so a scrape sees the live evidence too.
    a.findings();
    return o.registry.metrics();
  }, o.metricsMaxAgeMs ?? LIMITS.metricsMaxAgeMs);
  const a = o.agent;
  let captureBusy = false;
  const monitorEndpoints = a.endpoints();
  const paths = ['/', '/healthz', '/readyz', '/metrics', '/v1/findings', ...monitorEndpoints.map((e) => e.path), '/v1/capture'];

  app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
    const code = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    void reply.code(code).type('application/json').send({ error: err.message });
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ error: `no such endpoint: ${req.method} ${req.url.split('?')[0]}`, endpoints: paths });
  });

  app.get('/', async (req, reply) => {
    const q = singleQuery(req.query as Record<string, unknown>);
    const json = wantsJson(req.headers.accept, q['format']);
    const findings = sortFindings(a.findings());
    const meta = {
      node: o.node,
      takenAt: o.checks.snapshot?.takenAt ?? new Date().toISOString(),
      source: 'live' as const,
      vipSource: o.vipSource,
    };
    const result = { vips: o.checks.result?.vips ?? [], findings };
    const sections = a.report(Date.now());
    if (json) return reply.type('application/json').send(Object.assign(checkReportJson(meta, result), ...sections.map((s) => s.json)));
    const lines = [checkReportText(meta, result), '', ...sections.flatMap((s) => s.text)];
    return reply.type('text/plain; charset=utf-8').send(lines.join('\n') + '\n');
  });

  for (const [path, answer] of Object.entries(probeAnswers(a, o.checks))) {
    app.get(path, async (_req, reply) => {
      const r = answer();
      return reply.code(r.code).send(r.body);
    });
  }

  app.get('/metrics', async (_req, reply) => reply.type(o.registry.contentType).send(await metrics()));

  app.get('/v1/findings', async () => ({ findings: sortFindings(a.findings()) }));

  for (const e of monitorEndpoints) {
    app.get(e.path, async (req, reply) => {
      const r = await e.get(singleQuery(req.query as Record<string, unknown>));
      return reply.code(r.code ?? 200).send(r.body);
    });
  }

  app.get('/v1/capture', async (req, reply) => {
    const d = o.pcapDownload;
    if (!d.enabled)
      return reply
        .code(403)
        .send({ error: 'packet download is disabled; start the agent with --pcap-download to allow it (headers only)' });
    const q = singleQuery(req.query as Record<string, unknown>);
    const payloadsText = q['payloads'] ?? 'false';
    if (payloadsText !== 'true' && payloadsText !== 'false')
      throw new RequestError(`payloads ${JSON.stringify(payloadsText)} must be true or false`);
    const payloads = payloadsText === 'true';
    if (payloads && !d.payloads)
      return reply.code(403).send({
        error:
          'packet payloads are not downloadable: they carry passwords and tokens; start the agent with --pcap-download-payloads to allow it',
      });
    const secondsText = q['seconds'] ?? '10';
    const seconds = Number(secondsText);
    if (!Number.isInteger(seconds) || seconds < 1 || seconds > d.maxSeconds)
      throw new RequestError(`seconds ${JSON.stringify(secondsText)} must be an integer from 1 to ${d.maxSeconds}`);
    if (captureBusy) return reply.code(409).send({ error: 'a capture download is already running; one at a time' });
    captureBusy = true;
    try {
      await d.run(seconds, d.maxBytes, payloads, reply);
    } finally {
      captureBusy = false;
    }
    return reply;
  });

  return app;
}
