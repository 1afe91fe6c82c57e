// `asymroute serve`: the node agent, and the composition root that wires its monitors to the store and exporters.

import type { Server } from 'node:http';
import { hostname } from 'node:os';
import type { FastifyReply } from 'fastify';
import { resolveConfig, UsageError } from '../config/load.js';
import { buildHttp, buildProbeHttp, LIMITS } from '../exposition/http.js';
import { agentRegistry } from '../exposition/metrics.js';
import { Agent } from '../runtime/agent.js';
import { createLog } from '../runtime/log.js';
import { offMonitor } from '../findings/monitor.js';
import { BgpMonitor } from '../bgp/bgp-monitor.js';
import { CaptureMonitor } from '../capture/capture-monitor.js';
import { HEALTHY_RUN_MS } from '../capture/tcpdump.js';
import { startPcapDownload } from '../capture/pcap-download.js';
import { L2Monitor } from '../l2/l2-monitor.js';
import { ReplyPathMonitor } from '../reply-path/check-monitor.js';
import { supervisedWithMetrics } from '../supervisor/metrics.js';
import { IpRunner } from '../sources/ip-command.js';
import { reaper } from '../sources/child.js';
import { LinkNames } from '../sources/link-names.js';
import { canonicalIp } from '../net/ip.js';
import { kubeConfigPresent } from '../kubernetes/config-present.js';
import { registerKubernetesUp } from '../kubernetes/metrics.js';
import { configuredGateways, configuredVips, consoleOutput, type Output } from './check.js';
import { resolveAccess } from './access.js';

export interface ServeHandle {
  /** resolves with the exit code once the agent has shut down */
  done: Promise<number>;
  shutdown: (why: string) => Promise<void>;
  port: number;
}

// GET /v1/capture's pcap, from a second tcpdump (agent/capture/pcap-download.ts).
function pcapDownloader(vips: () => string[], headersSnaplen: number) {
  return async (seconds: number, maxBytes: number, payloads: boolean, reply: FastifyReply): Promise<void> => {
    const list = vips();
    if (list.length === 0) {
      await reply.code(409).send({ error: 'no VIPs to capture yet' });
      return;
    }
    const d = startPcapDownload(list, { seconds, maxBytes, snaplen: headersSnaplen, payloads });
    reply.raw.on('close', d.stop);
    await reply
      .type('application/vnd.tcpdump.pcap')
      .header('content-disposition', `attachment; filename="asymroute-${seconds}s${payloads ? '-payloads' : ''}.pcap"`)
      .send(d.out);
  };
}

/** How often `ss` is asked for BGP sessions; a session counts as up after two polls in a row. */
const BGP_POLL_MS = 5000;

export async function startServe(argv: string[], io: Output, version: string, revision = 'unknown'): Promise<ServeHandle> {
  const cfg = resolveConfig('serve', argv);
  if (cfg.positionals.length > 0)
    throw new UsageError(`unexpected argument ${JSON.stringify(cfg.positionals[0])} (see asymroute serve --help)`);
  const v = cfg.values;
  const vipList = v.vips;
  const vips = configuredVips(cfg);
  const node = process.env['NODE_NAME'] || hostname();
  const log = createLog(v.logLevel, (line) => io.out(line));
  const kmode = v.kubernetes;
  const kubeconfig = v.kubeconfig ?? undefined;
  // The Kubernetes client is loaded only when Kubernetes is in use.
  const k8s = kmode !== 'off' && kubeConfigPresent(kubeconfig) ? await import('../kubernetes/api.js') : null;
  const kc = k8s ? k8s.loadKubeConfig(kubeconfig) : null;
  if (kmode === 'on' && !kc)
    throw new UsageError('--kubernetes on: no in-cluster service account and no kubeconfig found (set --kubeconfig)');
  if (v.kubernetesEvents && !kc) throw new UsageError('--kubernetes-events needs Kubernetes (in-cluster or --kubeconfig)');
  const access = resolveAccess(v, kc, node, log);
  const bgpOn = v.bgp !== 'off';
  const captureOn = v.capture;

  // The composition root: one line per evidence source.
  const registry = agentRegistry({ version, revision, node });
  const supervisor = supervisedWithMetrics(registry);
  const names = new LinkNames(new IpRunner(), { onChange: () => capture.matcher?.refreshInterfaces() });
  let agent: Agent | null = null;
  const changed = () => agent?.gather();
  const kube = kc
    ? new (await import('../kubernetes/kubernetes-monitor.js')).KubernetesMonitor({
        kubeconfig: kc,
        node,
        bgp: bgpOn,
        kubeVipLease: v.kubeVip === 'off' ? null : v.kubeVipLease,
        log,
        registry,
        supervisor,
        onChange: (why) => void checks.check(why),
      })
    : null;
  const eventsModule = v.kubernetesEvents && kc ? await import('../kubernetes/events.js') : null;
  if (kube) registerKubernetesUp(registry, () => kube.connected);
  const events =
    eventsModule && kc
      ? new eventsModule.ServiceEvents({ kubeconfig: kc, node, onError: (error) => log({ event: 'kubernetes-event-failed', error }) })
      : null;
  const eventsExporter = eventsModule?.eventsExporter;
  const checks: ReplyPathMonitor = new ReplyPathMonitor({
    vips,
    // With Kubernetes, VIPs come from Services and MetalLB status only: a node's own /32s are often the CNI's.
    autoDetect: vips.length === 0 && !kc,
    clientCidrs: v.clients,
    managementCidrs: v.managementCidrs,
    limits: { maxVips: v.maxVips, vipCidrs: v.vipCidrs },
    gateways: configuredGateways(cfg),
    intervalMs: v.interval * 1000,
    debounceMs: v.debounceMs,
    log,
    registry,
    kubernetesVips: kube ? () => kube.vips() : undefined,
    kubernetesEndpoints: kube ? () => kube.backends() : undefined,
    observedClients: () => capture.observedClients(),
    onChecked: async (list) => {
      if (captureOn) l2.follow(list);
      await capture.follow(list);
    },
    changed,
    stillReported: (vip) => agent?.stored().some((f) => f.vip === vip) ?? false,
    netlinkRestarter: supervisor.restarter('ip-monitor', { initialMs: 2000, maxMs: 60_000, healthyAfterMs: 60_000 }),
  });
  const l2 = new L2Monitor({
    names,
    probe: { enabled: v.arpProbe, intervalMs: v.arpProbeInterval * 1000 },
    vipReports: () => checks.result?.vips ?? [],
    log,
    registry,
    changed,
  });
  const bgp = bgpOn
    ? new BgpMonitor({
        peers: v.bgpPeers.map((p) => canonicalIp(p)!),
        pollMs: BGP_POLL_MS,
        expected: kube ? () => kube.expectedBgpPeers() : undefined,
        log,
        registry,
        changed,
      })
    : null;
  const capture = new CaptureMonitor({
    capture: {
      enabled: captureOn,
      snaplen: v.snaplen,
      bufferKiB: v.captureBufferKiB,
      flowCapacity: v.flowCapacity,
      idleMs: v.flowIdle * 1000,
      sample: { flows: v.captureSampleBits, tcpData: v.captureDataSampleBits, udp: v.captureUdpSampleBits },
    },
    names,
    log,
    registry,
    restarter: supervisor.restarter('tcpdump', { initialMs: 1000, maxMs: 30_000, healthyAfterMs: HEALTHY_RUN_MS }),
    staticVip: (ip) => checks.vipReport(ip),
    neighbourTap: l2.tap,
    bgpTap: bgp?.tap ?? null,
    changed,
  });
  agent = new Agent({
    log,
    registry,
    supervisor,
    readyWhen: () => checks.ready,
    onTransition:
      events && eventsExporter
        ? eventsExporter(events, { node, serviceOf: (ip) => checks.vips.find((x) => x.ip === ip)?.service ?? null, log })
        : undefined,
  });
  agent.add(capture);
  agent.add(
    kube ?? offMonitor('kubernetes', { text: 'Kubernetes: not in use', json: { kubernetes: null, metallbL2: null, metallbBgp: null } }),
  );
  agent.add(l2);
  agent.add(
    bgp ??
      offMonitor('bgp', {
        text: 'BGP: not watched (--bgp off)',
        json: { bgp: null },
        endpoint: { path: '/v1/bgp', error: 'BGP session health is off (--bgp off)' },
      }),
  );
  agent.add(checks);
  if (!reaper().path)
    log({
      event: 'children-unbound',
      warning: 'setpriv (util-linux) is not on PATH: children start without a parent-death signal and outlive an agent killed with SIGKILL',
    });
  if (!kube) log({ event: 'kubernetes-off', reason: kmode === 'off' ? '--kubernetes off' : 'no in-cluster service account or kubeconfig' });
  await names.refresh().catch((e: Error) => log({ event: 'link-names-failed', error: e.message }));

  const app = buildHttp({
    agent,
    checks,
    registry,
    node,
    version,
    vipSource:
      vips.length === 0 && !kc
        ? 'auto-detected'
        : kc
          ? 'from Kubernetes Services (status.loadBalancer, loadBalancerIP, externalIPs) and MetalLB status, never auto-detected'
          : 'configured',
    pcapDownload: v.pcapDownload
      ? {
          enabled: true,
          payloads: v.pcapDownloadPayloads,
          maxSeconds: 60,
          maxBytes: 64 << 20,
          run: pcapDownloader(() => checks.vips.map((x) => x.ip), v.snaplen),
        }
      : { enabled: false },
    auth: access.auth,
    tls: access.tls,
  });
  await app.listen({ host: v.listen, port: v.port, backlog: LIMITS.acceptBacklog });
  const port = (app.server.address() as { port: number }).port;
  const probes = v.probePort ? buildProbeHttp(agent, checks) : null;
  if (probes) await listenProbes(probes, v.listen, v.probePort, app);
  log({
    event: 'listening',
    address: v.listen,
    port,
    ...(probes ? { probePort: v.probePort } : {}),
    scheme: access.tls ? 'https' : 'http',
    auth: access.mode,
    node,
    version,
    revision,
    vips: vipList.length ? vipList : kc ? 'kubernetes' : 'auto-detect',
    capture: captureOn,
  });

  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));
  let shuttingDown: Promise<void> | null = null;
  const running = agent;
  const shutdown = (why: string) => {
    if (!shuttingDown) {
      shuttingDown = (async () => {
        log({ event: 'shutdown', reason: why });
        probes?.close();
        probes?.closeAllConnections();
        await app.close();
        await running.stop();
        log({ event: 'stopped' });
        resolveDone(0);
      })();
    }
    return shuttingDown;
  };
  const onSignal = (sig: NodeJS.Signals) => void shutdown(sig);
  // on, not once: a second signal during shutdown must not fall back to the default action (exit at once).
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  void done.then(() => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  });
  running.start().catch((e: Error) => log({ event: 'start-failed', error: e.message }));
  return { done, shutdown, port };
}

/** The probe listener, or the main one closed and a clear error (the port taken, the address not local). */
async function listenProbes(server: Server, host: string, port: number, main: { close(): Promise<unknown> }): Promise<void> {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    await main.close();
    throw new UsageError(`--probe-port ${port}: cannot listen on ${host}:${port}: ${(e as Error).message}`);
  }
}

export async function runServe(argv: string[], io: Output = consoleOutput, version = 'unknown', revision = 'unknown'): Promise<number> {
  const h = await startServe(argv, io, version, revision);
  return h.done;
}
