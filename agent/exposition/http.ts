// The agent's HTTP interface (fastify): the incident report for curl, health, metrics and the JSON API.

import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import type { Registry } from 'prom-client';
import { FLOW_OUTCOMES, type FlowOutcome } from '../analysis/flow-matcher.js';
import { pathsText } from '../analysis/live-evidence.js';
import { sortFindings } from '../findings/registry.js';
import { canonicalIp } from '../net/ip.js';
import type { Agent } from '../runtime/agent.js';
import { checkReportJson, checkReportText } from './check-report.js';

export interface HttpOptions {
  agent: Agent;
  registry: Registry;
  node: string;
  version: string;
  /** GET /v1/capture: off by default, since packets carry payloads */
  pcapDownload: { enabled: false } | { enabled: true; maxSeconds: number; maxBytes: number; run: (seconds: number, maxBytes: number, reply: FastifyReply) => Promise<void> };
}

class BadRequest extends Error {
  readonly statusCode = 400;
}

function wantsJson(accept: string | undefined, format: unknown): boolean {
  if (format === 'json') return true;
  if (format === 'text') return false;
  return typeof accept === 'string' && accept.includes('application/json') && !accept.includes('text/plain');
}

function oneString(q: Record<string, unknown>, key: string): string | undefined {
  const v = q[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new BadRequest(`query parameter ${key} given more than once`);
  return v;
}

export function buildHttp(o: HttpOptions): FastifyInstance {
  const app = Fastify({ logger: false });
  const a = o.agent;
  let captureBusy = false;

  app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
    const code = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    void reply.code(code).type('application/json').send({ error: err.message });
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ error: `no such endpoint: ${req.method} ${req.url.split('?')[0]}`, endpoints: ['/', '/healthz', '/readyz', '/metrics', '/v1/findings', '/v1/vips', '/v1/flows', '/v1/routes', '/v1/bgp', '/v1/capture'] });
  });

  const bgpView = () => (a.bgp ? { error: a.bgpError, peers: a.bgp.view(Date.now()) } : null);

  const report = () => {
    a.liveFindings();
    const meta = { node: o.node, takenAt: a.snapshot?.takenAt ?? new Date().toISOString(), source: 'live' as const, vipSource: a.opts.autoDetect ? 'auto-detected' : a.opts.kubernetesVips ? 'from Kubernetes Services (status.loadBalancer, loadBalancerIP, externalIPs) and MetalLB status, never auto-detected' : 'configured' };
    const result = { vips: a.result?.vips ?? [], findings: sortFindings(a.findings.all()) };
    return { meta, result };
  };

  app.get('/', async (req, reply) => {
    const q = req.query as Record<string, unknown>;
    const json = wantsJson(req.headers.accept, oneString(q, 'format'));
    const { meta, result } = report();
    const flows = a.matcher ? Object.fromEntries([...a.matcher.openTally(Date.now())].map(([vip, t]) => [vip, t])) : null;
    if (json) return reply.type('application/json').send({ ...checkReportJson(meta, result), liveFlows: flows, capture: { ...a.captureStats, sampling: a.captureSampling }, kubernetes: a.kubernetes, metallbL2: a.metallbL2, metallbBgp: a.metallbBgp, bgp: bgpView(), arpProbes: [...a.probes.values()], lastCheck: a.status });
    const lines = [checkReportText(meta, result)];
    lines.push('');
    if (a.opts.capture.enabled) lines.push(`Capture keeps: ${a.captureSampling.text}.`);
    if (!a.opts.capture.enabled) lines.push('Live flows: capture disabled');
    else if (!flows || Object.keys(flows).length === 0) lines.push(`Live flows: none yet (capture ${a.capture?.healthy ? 'running' : 'down'}; ${a.captureStats.packets} packets)`);
    else {
      lines.push('Live flows (not yet expired):');
      for (const [vip, t] of Object.entries(flows)) {
        const oc = FLOW_OUTCOMES.filter((x) => t.outcomes[x] > 0).map((x) => `${t.outcomes[x]} ${x}`).join(', ');
        lines.push(`  ${vip}: ${oc}; paths ${pathsText(t.paths)}${t.retransmittedSyns ? `; retransmitted SYNs ${t.retransmittedSyns}` : ''}`);
      }
    }
    const k = a.kubernetes;
    lines.push(k ? `Kubernetes: ${k.connected ? `connected, ${k.objects} Services` : `UNREACHABLE (${k.lastError ?? 'not yet connected'}): using the other VIP sources`}` : 'Kubernetes: not in use');
    for (const p of a.probes.values())
      lines.push(`${p.vip.includes(':') ? 'NDP' : 'ARP'} probe ${p.vip} on ${p.iface} at ${new Date(p.at).toISOString()}: ${p.error ? `FAILED (${p.error})` : p.answers.length === 0 ? 'NO ANSWER' : `answered by ${p.answers.map((x) => (x.ms === null ? x.mac : `${x.mac} (${x.ms} ms)`)).join(', ')}${p.answers.length > 1 ? ' (CONFLICT)' : ''}`}`);
    const b = bgpView();
    if (b === null) lines.push('BGP: not watched (--bgp off)');
    else if (b.error) lines.push(`BGP: UNKNOWN (${b.error})`);
    else if (b.peers.length === 0) lines.push('BGP: no session on port 179 seen, no --bgp-peer configured');
    else for (const p of b.peers) lines.push(`BGP: ${p.peer} ${p.up ? 'up' : 'DOWN'} since ${new Date(p.since).toISOString()}${p.expected ? ` (expected by ${p.expectedBy})` : ' (seen, not configured)'}${p.up || !p.tcpState ? '' : `, TCP ${p.tcpState}`}`);
    const m = a.metallbL2;
    const crd = (label: string, resource: string, k: typeof m) =>
      k && lines.push(`${label}: ${k.connected ? `${k.objects} objects` : k.lastHttpStatus === 404 ? 'not installed (MetalLB < 0.14 or not MetalLB)' : k.lastHttpStatus === 403 ? `not allowed to list ${resource} (RBAC)` : `unreadable (${k.lastError ?? 'not yet listed'})`}`);
    crd('MetalLB ServiceL2Status', 'servicel2statuses.metallb.io', m);
    crd('MetalLB BGPPeer', 'bgppeers.metallb.io', a.metallbBgp);
    lines.push(`Last check: ${a.status.at ?? 'never'} (${a.status.reason ?? '-'}, ${a.status.durationMs?.toFixed(0) ?? '-'} ms)${a.status.error ? `, FAILED: ${a.status.error}` : ''}`);
    return reply.type('text/plain; charset=utf-8').send(lines.join('\n') + '\n');
  });

  app.get('/healthz', async (_req, reply) => {
    const captureWanted = a.captureWanted;
    const captureOk = !captureWanted || a.capture?.running === true;
    return reply.code(captureOk ? 200 : 503).send({ status: captureOk ? 'ok' : 'capture-down', capture: captureWanted ? (a.capture?.running ? 'running' : 'down') : 'disabled', lastCaptureError: a.captureStats.lastError });
  });

  app.get('/readyz', async (_req, reply) => reply.code(a.ready ? 200 : 503).send({ ready: a.ready, lastCheck: a.status }));

  app.get('/metrics', async (_req, reply) => {
    a.liveFindings();
    return reply.type(o.registry.contentType).send(await o.registry.metrics());
  });

  app.get('/v1/findings', async () => {
    a.liveFindings();
    return { findings: sortFindings(a.findings.all()) };
  });

  app.get('/v1/vips', async () => ({ vips: a.result?.vips ?? [] }));

  app.get('/v1/bgp', async (_req, reply) => {
    const b = bgpView();
    return b === null ? reply.code(404).send({ error: 'BGP session health is off (--bgp off)' }) : b;
  });

  app.get('/v1/routes', async (_req, reply) => {
    if (!a.snapshot) return reply.code(503).send({ error: 'no check has completed yet' });
    return a.snapshot;
  });

  app.get('/v1/flows', async (req) => {
    const q = req.query as Record<string, unknown>;
    const vipText = oneString(q, 'vip');
    const outcome = oneString(q, 'outcome');
    const limitText = oneString(q, 'limit');
    const vip = vipText === undefined ? undefined : canonicalIp(vipText);
    if (vip === null) throw new BadRequest(`vip ${JSON.stringify(vipText)} is not an IP address`);
    if (outcome !== undefined && !FLOW_OUTCOMES.includes(outcome as FlowOutcome)) throw new BadRequest(`outcome ${JSON.stringify(outcome)} is not one of ${FLOW_OUTCOMES.join(', ')}`);
    const limit = limitText === undefined ? 100 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new BadRequest(`limit ${JSON.stringify(limitText)} must be an integer from 1 to 10000`);
    if (!a.matcher) return { flows: [], capture: a.opts.capture.enabled ? 'not started (no VIPs?)' : 'disabled' };
    return { flows: a.matcher.flows(Date.now(), { vip, outcome: outcome as FlowOutcome | undefined, limit }) };
  });

  app.get('/v1/capture', async (req, reply) => {
    const d = o.pcapDownload;
    if (!d.enabled) return reply.code(403).send({ error: 'packet download is disabled: packets carry payloads; start the agent with --pcap-download to allow it' });
    const q = req.query as Record<string, unknown>;
    const secondsText = oneString(q, 'seconds') ?? '10';
    const seconds = Number(secondsText);
    if (!Number.isInteger(seconds) || seconds < 1 || seconds > d.maxSeconds) throw new BadRequest(`seconds ${JSON.stringify(secondsText)} must be an integer from 1 to ${d.maxSeconds}`);
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
