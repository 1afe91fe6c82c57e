// Kubernetes discovery as a monitor: Services (VIPs), EndpointSlices (backends), MetalLB ServiceL2Status (who
// announces) and BGPPeer (which routers this node must peer with), kube-vip's Leases (who holds), each a list+watch
// restarted by the supervisor.
// It raises no findings: the other monitors read what it knows. Loaded only when Kubernetes is in use.

import type { Registry } from 'prom-client';
import type { KubeConfig } from '@kubernetes/client-node';
import { applyAnnouncements, applyBgpAdvertisements, applyKubeVip, type VipSpec } from '../analysis/vips.js';
import type { Finding } from '../findings/registry.js';
import type { Supervisor } from '../supervisor/restarter.js';
import type { LogFn, Monitor, MonitorHealth, ReportSection } from '../findings/monitor.js';
import {
  bgpPeerWatcher,
  bgpStatusWatcher,
  endpointSliceWatcher,
  l2StatusWatcher,
  leaseWatcher,
  MAX_KUBEVIP_LEASES,
  nodeLabels,
  serviceWatcher,
  type KubeStatus,
  type ListWatcher,
} from './api.js';
import {
  peersForNode,
  type BgpAdvertisement,
  type BgpPeerSpec,
  type KubeVipLease,
  type KubeVipMarks,
  type L2Announcement,
  type ServiceEndpoint,
  type ServiceVip,
} from './objects.js';

export interface KubernetesMonitorOptions {
  kubeconfig: KubeConfig;
  node: string;
  /** also watch MetalLB BGPPeers (BGP session health is on) */
  bgp: boolean;
  /** kube-vip: its global services Lease (namespace/name); null: kube-vip is not read (--kube-vip off) */
  kubeVipLease: string | null;
  log: LogFn;
  registry: Registry;
  supervisor: Supervisor;
  /** a watched object changed: check again */
  onChange: (why: 'kubernetes-change' | 'endpoints-change' | 'metallb-change' | 'kube-vip-change') => void;
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
  /** started once a Service carries kube-vip's marks */
  readonly leases: ListWatcher<KubeVipLease> | null;
  private leasesStarted = false;
  /** Leases named by kube-vip.io/leaseName (the others are kubevip-<name> or the global one) */
  private namedLeases = new Set<string>();
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
        this.followKubeVip(list);
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
    const kubeVipLease = opts.kubeVipLease;
    this.leases =
      kubeVipLease !== null
        ? leaseWatcher({
            kubeconfig,
            restarter: supervisor.restarter('kube-vip-leases', backoff(300_000)),
            wanted: (l) => l === kubeVipLease || l.split('/')[1]!.startsWith('kubevip-') || this.namedLeases.has(l),
            onChange: (list) => {
              log({ event: 'kube-vip-leases', leases: list.map((x) => `${x.lease} ${x.holder ?? '-'}`) });
              opts.onChange('kube-vip-change');
            },
            onError: (error) => log({ event: 'kube-vip-leases-error', error }),
          })
        : null;
  }

  // Leases are watched only once a Service shows kube-vip serves it; a newly named one needs a new list.
  private followKubeVip(list: ServiceVip[]): void {
    if (!this.leases) return;
    const named = new Set(list.filter((x) => x.kubeVip.leaseNamed).map((x) => x.kubeVip.lease));
    const added = [...named].some((l) => !this.namedLeases.has(l));
    this.namedLeases = named;
    if (!this.leasesStarted && list.some((x) => x.kubeVip.marked)) {
      this.leasesStarted = true;
      this.leases.start();
    } else if (this.leasesStarted && added) this.leases.relist();
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

  /** The Services' VIPs, with MetalLB's announcements and kube-vip's holders applied. */
  vips(): VipSpec[] {
    const kubeVipOn = this.opts.kubeVipLease !== null;
    const items = this.services.items().filter((x) => kubeVipOn || x.from !== 'kube-vip.io/loadbalancerIPs');
    const fromServices = items.map((x) => ({ ip: x.ip, ingress: null, source: 'kubernetes' as const, service: x.service }));
    const metallb = applyBgpAdvertisements(
      applyAnnouncements(fromServices, this.l2.items(), this.opts.node),
      this.bgpStatus?.items() ?? [],
      this.opts.node,
    );
    if (!kubeVipOn) return metallb;
    const marks = new Map<string, KubeVipMarks>(items.map((x) => [x.service, x.kubeVip]));
    return applyKubeVip(metallb, marks, this.leases?.items() ?? [], this.opts.kubeVipLease!, this.opts.node, Date.now());
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
    if (this.leases) {
      const s = this.leases.status;
      text.push(
        !this.leasesStarted
          ? 'kube-vip Leases: not watched (no Service carries a kube-vip.io/ annotation)'
          : s.connected
            ? `kube-vip Leases: ${s.objects}${s.ignored ? ` (${s.ignored} more ignored: at most ${MAX_KUBEVIP_LEASES} held)` : ''}`
            : s.lastHttpStatus === 403
              ? 'kube-vip Leases: not allowed to list leases.coordination.k8s.io (RBAC)'
              : `kube-vip Leases: unreadable (${s.lastError ?? 'not yet listed'})`,
      );
    }
    return {
      json: {
        kubernetes: k,
        metallbL2: this.l2.status,
        metallbBgp: this.bgpPeers?.status ?? null,
        metallbBgpStatus: this.bgpStatus?.status ?? null,
        kubeVipLeases: this.leasesStarted ? (this.leases?.status ?? null) : null,
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
    this.leases?.stop();
    if (this.labelsTimer) clearInterval(this.labelsTimer);
  }
}
