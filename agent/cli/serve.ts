// `asymroute serve`: the node agent. HTTP report, metrics, periodic and change-triggered checks, live capture.

import { hostname } from 'node:os';
import { PassThrough } from 'node:stream';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { FastifyReply } from 'fastify';
import { resolveConfig, UsageError } from '../config/load.js';
import { buildHttp } from '../exposition/http.js';
import { registerMetrics } from '../exposition/metrics.js';
import { Agent } from '../runtime/agent.js';
import { tcpdumpArgs } from '../sources/capture.js';
import { spawnChild } from '../sources/child.js';
import { applyAnnouncements } from '../analysis/vips.js';
import { canonicalIp } from '../net/ip.js';
import { peersForNode, type BgpPeerSpec, type L2Announcement, type ServiceEndpoint, type ServiceVip } from '../parsers/kubernetes.js';
import type { ListWatcher } from '../sources/kubernetes.js';
import { kubeConfigPresent } from '../sources/kube-config-present.js';
import { configuredGateways, configuredVips, consoleOutput, type Output } from './check.js';

export interface ServeHandle {
  /** resolves with the exit code once the agent has shut down */
  done: Promise<number>;
  shutdown: (why: string) => Promise<void>;
  port: number;
}

// A pcap of VIP traffic for a bounded time and size, straight from a second tcpdump.
function pcapDownloader(vips: () => string[]) {
  return async (seconds: number, maxBytes: number, reply: FastifyReply): Promise<void> => {
    const list = vips();
    if (list.length === 0) {
      await reply.code(409).send({ error: 'no VIPs to capture yet' });
      return;
    }
    const child = spawnChild('tcpdump', tcpdumpArgs(list));
    child.proc.stderr?.resume();
    const out = new PassThrough();
    let sent = 0;
    const stop = () => child.proc.kill('SIGTERM');
    const timer = setTimeout(stop, seconds * 1000);
    child.proc.stdout?.on('data', (d: Buffer) => {
      if (sent + d.length > maxBytes) {
        out.write(d.subarray(0, Math.max(0, maxBytes - sent)));
        sent = maxBytes;
        stop();
        return;
      }
      sent += d.length;
      out.write(d);
    });
    void child.done.then(() => {
      clearTimeout(timer);
      out.end();
    });
    reply.raw.on('close', stop);
    await reply.type('application/vnd.tcpdump.pcap').header('content-disposition', `attachment; filename="asymroute-${seconds}s.pcap"`).send(out);
  };
}

/** How often `ss` is asked for BGP sessions; a session counts as up after two polls in a row. */
const BGP_POLL_MS = 5000;

export async function startServe(argv: string[], io: Output, version: string): Promise<ServeHandle> {
  const cfg = resolveConfig('serve', argv);
  if (cfg.positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(cfg.positionals[0])} (see asymroute serve --help)`);
  const v = cfg.values;
  const vipList = v['vips'] as string[];
  const vips = configuredVips(cfg);
  const gateways = configuredGateways(cfg);
  const log = (rec: Record<string, unknown>) => io.out(JSON.stringify({ ts: new Date().toISOString(), ...rec }));
  const node = process.env['NODE_NAME'] || hostname();
  const kmode = v['kubernetes'] as string;
  const kubeconfig = (v['kubeconfig'] as string | null) ?? undefined;
  // The Kubernetes client is loaded only when Kubernetes is in use.
  const k8s = kmode !== 'off' && kubeConfigPresent(kubeconfig) ? await import('../sources/kubernetes.js') : null;
  const kc = k8s ? k8s.loadKubeConfig(kubeconfig) : null;
  if (kmode === 'on' && !kc) throw new UsageError('--kubernetes on: no in-cluster service account and no kubeconfig found (set --kubeconfig)');
  let watcher: ListWatcher<ServiceVip> | null = null;
  let l2: ListWatcher<L2Announcement> | null = null;
  let slices: ListWatcher<ServiceEndpoint> | null = null;
  let bgpPeers: ListWatcher<BgpPeerSpec> | null = null;
  let labels: Record<string, string> | null = null;
  let labelsTimer: NodeJS.Timeout | null = null;
  if (v['kubernetesEvents'] && !kc) throw new UsageError('--kubernetes-events needs Kubernetes (in-cluster or --kubeconfig)');
  const events = v['kubernetesEvents'] && kc ? new (await import('../sources/kubernetes-events.js')).ServiceEvents({ kubeconfig: kc, node, onError: (error) => log({ event: 'kubernetes-event-failed', error }) }) : null;
  const agent = new Agent({
    vips,
    // With Kubernetes, VIPs come from Services and MetalLB status only: a node's own /32s are often the CNI's.
    autoDetect: vips.length === 0 && !kc,
    clientCidrs: v['clients'] as string[],
    managementCidrs: v['managementCidrs'] as string[],
    gateways,
    intervalMs: (v['interval'] as number) * 1000,
    debounceMs: v['debounceMs'] as number,
    capture: { enabled: v['capture'] as boolean, snaplen: v['snaplen'] as number, bufferKiB: v['captureBufferKiB'] as number, flowCapacity: v['flowCapacity'] as number, idleMs: (v['flowIdle'] as number) * 1000, sampleBits: v['captureSampleBits'] as number },
    arpProbe: { enabled: v['arpProbe'] as boolean, intervalMs: (v['arpProbeInterval'] as number) * 1000 },
    bgp: { enabled: v['bgp'] !== 'off', peers: (v['bgpPeers'] as string[]).map((p) => canonicalIp(p)!), pollMs: BGP_POLL_MS },
    log,
    onTransition: (t, vip) => {
      if (!events || !vip?.service || t.type !== 'asymmetric-reply-path') return;
      const raised = t.event === 'finding-raised';
      const reason = raised ? 'AsymmetricReplyPath' : 'ReplyPathRestored';
      const suppressedBefore = events.suppressed;
      void events
        .report({ service: vip.service, reason, message: raised ? `on node ${node}: ${t.summary}` : `on node ${node}: replies for ${vip.ip} leave on the interface requests arrive on again` })
        .then((posted) => {
          if (posted) log({ event: 'kubernetes-event-posted', service: vip.service, reason });
          else if (events.suppressed > suppressedBefore) log({ event: 'kubernetes-event-rate-limited', service: vip.service, reason });
        });
    },
    bgpExpected: kc ? () => new Map(peersForNode(bgpPeers?.items() ?? [], labels).map((p) => [p.peer, `MetalLB BGPPeer ${p.name}`])) : null,
    kubernetesEndpoints: kc ? () => slices?.items() ?? [] : null,
    kubernetesVips: kc
      ? () =>
          applyAnnouncements(
            (watcher?.items() ?? []).map((x) => ({ ip: x.ip, ingress: null, source: 'kubernetes' as const, service: x.service })),
            l2?.items() ?? [],
            node,
          )
      : null,
  });
  if (kc && k8s) {
    const { bgpPeerWatcher, endpointSliceWatcher, l2StatusWatcher, nodeLabels, serviceWatcher } = k8s;
    watcher = serviceWatcher({
      kubeconfig: kc,
      onChange: (list) => {
        log({ event: 'kubernetes-vips', vips: list.map((x) => `${x.ip} ${x.service}`) });
        void agent.check('kubernetes-change');
      },
      onError: (error) => log({ event: 'kubernetes-error', error }),
    });
    // Backends: where each VIP is DNAT'd to, so forwarded replies are asked about with the pod's address.
    slices = endpointSliceWatcher({
      kubeconfig: kc,
      onChange: () => void agent.check('endpoints-change'),
      onError: (error) => log({ event: 'kubernetes-endpointslices-error', error }),
    });
    // Optional: most clusters without MetalLB >= 0.14 answer 404; retried slowly in case it gets installed.
    l2 = l2StatusWatcher({
      kubeconfig: kc,
      onChange: (list) => {
        log({ event: 'metallb-l2-status', announcements: list.map((x) => `${x.service} ${x.node} ${x.interfaces.join(',')}`) });
        void agent.check('metallb-change');
      },
      onError: (error) => log({ event: 'metallb-l2-status-error', error }),
      maxBackoffMs: 300_000,
    });
    agent.kubernetes = watcher.status;
    agent.metallbL2 = l2.status;
    if (v['bgp'] !== 'off') {
      let labelsError: string | null = null;
      const refreshLabels = async () => {
        try {
          labels = await nodeLabels(kc, node);
          labelsError = null;
        } catch (e) {
          // Without them, BGPPeers with node selectors are not expected here (never guessed).
          if ((e as Error).message !== labelsError) log({ event: 'node-labels-failed', node, error: (e as Error).message });
          labelsError = (e as Error).message;
        }
      };
      bgpPeers = bgpPeerWatcher({
        kubeconfig: kc,
        onChange: (list) => {
          log({ event: 'metallb-bgp-peers', peers: list.map((x) => `${x.name} ${x.peer}${x.nodeSelectors.length ? ' (node selectors)' : ''}`) });
          if (list.some((x) => x.nodeSelectors.length > 0)) void refreshLabels();
        },
        onError: (error) => log({ event: 'metallb-bgp-peers-error', error }),
        maxBackoffMs: 300_000,
      });
      labelsTimer = setInterval(() => void (bgpPeers?.items().some((x) => x.nodeSelectors.length > 0) && refreshLabels()), 300_000);
      labelsTimer.unref();
      agent.metallbBgp = bgpPeers.status;
    }
  } else log({ event: 'kubernetes-off', reason: kmode === 'off' ? '--kubernetes off' : 'no in-cluster service account or kubeconfig' });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // Gauges named *_total: promtool (rightly) refuses them.
  for (const m of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(m);
  registerMetrics(registry, agent, { version, node });
  const app = buildHttp({
    agent,
    registry,
    node,
    version,
    pcapDownload: v['pcapDownload'] ? { enabled: true, maxSeconds: 60, maxBytes: 64 << 20, run: pcapDownloader(() => agent.vips.map((x) => x.ip)) } : { enabled: false },
  });
  await app.listen({ host: v['listen'] as string, port: v['port'] as number });
  const port = (app.server.address() as { port: number }).port;
  log({ event: 'listening', address: v['listen'], port, node, version, vips: vipList.length ? vipList : kc ? 'kubernetes' : 'auto-detect', capture: v['capture'] });

  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));
  let shuttingDown: Promise<void> | null = null;
  const shutdown = (why: string) => {
    if (!shuttingDown) {
      shuttingDown = (async () => {
        log({ event: 'shutdown', reason: why });
        await app.close();
        watcher?.stop();
        slices?.stop();
        l2?.stop();
        bgpPeers?.stop();
        if (labelsTimer) clearInterval(labelsTimer);
        await agent.stop();
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
  watcher?.start();
  slices?.start();
  l2?.start();
  bgpPeers?.start();
  agent.start().catch((e: Error) => log({ event: 'start-failed', error: e.message }));
  return { done, shutdown, port };
}

export async function runServe(argv: string[], io: Output = consoleOutput, version = 'unknown'): Promise<number> {
  const h = await startServe(argv, io, version);
  return h.done;
}
