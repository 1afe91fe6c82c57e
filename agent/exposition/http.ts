// The agent's HTTP interface (fastify): the incident report for curl, health, metrics and the JSON API. It reads
// the agent only through AgentView and the static check's read-only view; the monitors' endpoints come from them.

import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import type { Registry } from 'prom-client';
import type { CheckResult } from '../reply-path/check.js';
import { sortFindings } from '../findings/registry.js';
import type { HostSnapshot } from '../model/host-state.js';
import type { CheckStatus } from '../reply-path/check-monitor.js';
import { RequestError, type AgentView } from '../findings/monitor.js';
import { checkReportJson, checkReportText } from './check-report.js';

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
  /** GET /v1/capture: off by default, since packets carry payloads */
  pcapDownload:
    | { enabled: false }
    | {
        enabled: true;
        maxSeconds: number;
        maxBytes: number;
        run: (seconds: number, maxBytes: number, reply: FastifyReply) => Promise<void>;
      };
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
  const app = Fastify({ logger: false });
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

  app.get('/healthz', async (_req, reply) => {
    const h = a.health();
    const failing = Object.values(h.monitors).find((m) => !m.ok);
    const detail = Object.assign({}, ...Object.values(h.monitors).map((m) => m.detail ?? {}));
    return reply
      .code(h.ok ? 200 : 503)
      .send({ status: failing ? failing.state : 'ok', ...detail, monitors: h.monitors, supervised: h.children });
  });

  app.get('/readyz', async (_req, reply) => {
    const ready = a.ready();
    return reply.code(ready ? 200 : 503).send({ ready, lastCheck: o.checks.status });
  });

  app.get('/metrics', async (_req, reply) => {
    // The findings gauges move when findings are gathered: gather now so a scrape sees the live evidence too.
    a.findings();
    return reply.type(o.registry.contentType).send(await o.registry.metrics());
  });

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
        .send({ error: 'packet download is disabled: packets carry payloads; start the agent with --pcap-download to allow it' });
    const q = singleQuery(req.query as Record<string, unknown>);
    const secondsText = q['seconds'] ?? '10';
    const seconds = Number(secondsText);
    if (!Number.isInteger(seconds) || seconds < 1 || seconds > d.maxSeconds)
      throw new RequestError(`seconds ${JSON.stringify(secondsText)} must be an integer from 1 to ${d.maxSeconds}`);
    if (captureBusy) return reply.code(409).send({ error: 'a capture download is already running; one at a time' });
    captureBusy = true;
    try {
      await d.run(seconds, d.maxBytes, reply);
    } finally {
      captureBusy = false;
    }
    return reply;
  });

  return app;
}
