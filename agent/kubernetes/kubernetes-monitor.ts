// Kubernetes discovery as a monitor: Services (VIPs), EndpointSlices (backends), MetalLB ServiceL2Status (who
// announces) and BGPPeer (which routers this node must peer with), each a list+watch restarted by the supervisor.
// It raises no findings: the other monitors read what it knows. Loaded only when Kubernetes is in use.

import type { Registry } from 'prom-client';
import type { KubeConfig } from '@kubernetes/client-node';
import { applyAnnouncements, applyBgpAdvertisements, type VipSpec } from '../analysis/vips.js';
import type { Finding } from '../findings/registry.js';
import type { Supervisor } from '../supervisor/restarter.js';
import type { LogFn, Monitor, MonitorHealth, ReportSection } from '../findings/monitor.js';
import {
  bgpPeerWatcher,
  bgpStatusWatcher,
  endpointSliceWatcher,
  l2StatusWatcher,
  nodeLabels,
  serviceWatcher,
  type KubeStatus,
  type ListWatcher,
} from './api.js';
import {
  peersForNode,
  type BgpAdvertisement,
  type BgpPeerSpec,
  type L2Announcement,
  type ServiceEndpoint,
  type ServiceVip,
} from './objects.js';

export interface KubernetesMonitorOptions {
  kubeconfig: KubeConfig;
  node: string;
  /** also watch MetalLB BGPPeers (BGP session health is on) */
  bgp: boolean;
  log: LogFn;
  registry: Registry;
  supervisor: Supervisor;
  /** a watched object changed: check again */
  onChange: (why: 'kubernetes-change' | 'endpoints-change' | 'metallb-change') => void;
}

/** How often the node's labels are read again while BGPPeers with node selectors exist. */
const LABELS_REFRESH_MS = 300_000;
const backoff = (maxMs: number) => ({ initialMs: 1000, maxMs, jitter: 0.5 });

export class KubernetesMonitor implements Monitor {
  readonly name = 'kubernetes';
  readonly services: ListWatcher<ServiceVip>;
  readonly slices: ListWatcher<ServiceEndpoint>;
  readonly l2: ListWatcher<L2Announcement>;
  readonly bgpPeers: ListWatcher<BgpPeerSpec> | null;
  readonly bgpStatus: ListWatcher<BgpAdvertisement> | null;
  private labels: Record<string, string> | null = null;
  private labelsError: string | null = null;
  private labelsTimer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: KubernetesMonitorOptions) {
    const { kubeconfig, log, supervisor } = opts;
    this.services = serviceWatcher({
      kubeconfig,
      restarter: supervisor.restarter('kubernetes-services', backoff(60_000)),
      onChange: (list) => {
        log({ event: 'kubernetes-vips', vips: list.map((x) => `${x.ip} ${x.service}`) });
        opts.onChange('kubernetes-change');
      },
      onError: (error) => log({ event: 'kubernetes-error', error }),
    });
    // Backends: where each VIP is DNAT'd to, so forwarded replies are asked about with the pod's address.
    this.slices = endpointSliceWatcher({
      kubeconfig,
      restarter: supervisor.restarter('kubernetes-endpointslices', backoff(60_000)),
      onChange: () => opts.onChange('endpoints-change'),
      onError: (error) => log({ event: 'kubernetes-endpointslices-error', error }),
    });
    // Optional: most clusters without MetalLB >= 0.14 answer 404; retried slowly in case it gets installed.
    this.l2 = l2StatusWatcher({
      kubeconfig,
      restarter: supervisor.restarter('metallb-servicel2statuses', backoff(300_000)),
      onChange: (list) => {
        log({ event: 'metallb-l2-status', announcements: list.map((x) => `${x.service} ${x.node} ${x.interfaces.join(',')}`) });
        opts.onChange('metallb-change');
      },
      onError: (error) => log({ event: 'metallb-l2-status-error', error }),
    });
    this.bgpPeers = opts.bgp
      ? bgpPeerWatcher({
          kubeconfig,
          restarter: supervisor.restarter('metallb-bgppeers', backoff(300_000)),
          onChange: (list) => {
            log({
              event: 'metallb-bgp-peers',
              peers: list.map((x) => `${x.name} ${x.peer}${x.nodeSelectors.length ? ' (node selectors)' : ''}`),
            });
            if (list.some((x) => x.nodeSelectors.length > 0)) void this.refreshLabels();
          },
          onError: (error) => log({ event: 'metallb-bgp-peers-error', error }),
        })
      : null;
    // Which nodes advertise each Service over BGP, and to which peers (MetalLB >= 0.14; 404 otherwise).
    this.bgpStatus = opts.bgp
      ? bgpStatusWatcher({
          kubeconfig,
          restarter: supervisor.restarter('metallb-servicebgpstatuses', backoff(300_000)),
          onChange: (list) => {
            log({ event: 'metallb-bgp-status', advertisements: list.map((x) => `${x.service} ${x.node} ${x.peers.join(',')}`) });
            opts.onChange('metallb-change');
          },
          onError: (error) => log({ event: 'metallb-bgp-status-error', error }),
        })
      : null;
  }

  private async refreshLabels(): Promise<void> {
    try {
      this.labels = await nodeLabels(this.opts.kubeconfig, this.opts.node);
      this.labelsError = null;
    } catch (e) {
      // Without them, BGPPeers with node selectors are not expected here (never guessed).
      if ((e as Error).message !== this.labelsError)
        this.opts.log({ event: 'node-labels-failed', node: this.opts.node, error: (e as Error).message });
      this.labelsError = (e as Error).message;
    }
  }

  async start(): Promise<void> {
    this.services.start();
    this.slices.start();
    this.l2.start();
    this.bgpStatus?.start();
    if (this.bgpPeers) {
      this.bgpPeers.start();
      this.labelsTimer = setInterval(
        () => void (this.bgpPeers?.items().some((x) => x.nodeSelectors.length > 0) && this.refreshLabels()),
        LABELS_REFRESH_MS,
      );
      this.labelsTimer.unref();
    }
  }

  get connected(): boolean {
    return this.services.status.connected;
  }

  /** The Services' VIPs, with MetalLB's announcements applied. */
  vips(): VipSpec[] {
    const fromServices = this.services.items().map((x) => ({ ip: x.ip, ingress: null, source: 'kubernetes' as const, service: x.service }));
    return applyBgpAdvertisements(
      applyAnnouncements(fromServices, this.l2.items(), this.opts.node),
      this.bgpStatus?.items() ?? [],
      this.opts.node,
    );
  }

  backends(): ServiceEndpoint[] {
    return this.slices.items();
  }

  /** BGPPeers that apply to this node: peer -> who expects it. */
  expectedBgpPeers(): Map<string, string> {
    return new Map(peersForNode(this.bgpPeers?.items() ?? [], this.labels).map((p) => [p.peer, `MetalLB BGPPeer ${p.name}`]));
  }

  findings(): Finding[] {
    return [];
  }

  health(): MonitorHealth {
    // An unreachable API is reported, not fatal: the agent keeps checking with what it last knew.
    return {
      ok: true,
      state: this.services.status.connected ? 'connected' : 'unreachable',
      detail: { lastError: this.services.status.lastError },
    };
  }

  report(): ReportSection {
    const k = this.services.status;
    const text = [
      `Kubernetes: ${k.connected ? `connected, ${k.objects} Services` : `UNREACHABLE (${k.lastError ?? 'not yet connected'}): using the other VIP sources`}`,
    ];
    const crd = (label: string, resource: string, s: KubeStatus | undefined) => {
      if (!s) return;
      text.push(
        `${label}: ${s.connected ? `${s.objects} objects` : s.lastHttpStatus === 404 ? 'not installed (MetalLB < 0.14 or not MetalLB)' : s.lastHttpStatus === 403 ? `not allowed to list ${resource} (RBAC)` : `unreadable (${s.lastError ?? 'not yet listed'})`}`,
      );
    };
    crd('MetalLB ServiceL2Status', 'servicel2statuses.metallb.io', this.l2.status);
    crd('MetalLB BGPPeer', 'bgppeers.metallb.io', this.bgpPeers?.status);
    crd('MetalLB ServiceBGPStatus', 'servicebgpstatuses.metallb.io', this.bgpStatus?.status);
    return {
      json: {
        kubernetes: k,
        metallbL2: this.l2.status,
        metallbBgp: this.bgpPeers?.status ?? null,
        metallbBgpStatus: this.bgpStatus?.status ?? null,
      },
      text,
    };
  }

  async stop(): Promise<void> {
    this.services.stop();
    this.slices.stop();
    this.l2.stop();
    this.bgpPeers?.stop();
    this.bgpStatus?.stop();
    if (this.labelsTimer) clearInterval(this.labelsTimer);
  }
}
