// Kubernetes discovery: list, then watch from the list's resourceVersion; a 410 Gone (or any broken watch) means
// list again. Unreachable API: keep the last known objects, retry with backoff, report the error. One watcher per
// resource: Services (VIPs) and, when MetalLB is installed, its ServiceL2Status objects (who announces a VIP where).

import { KubeConfig, Watch } from '@kubernetes/client-node';
import { Restarter } from '../supervisor/restarter.js';
import { kubeHttp } from './request.js';
import {
  bgpPeerOf,
  bgpStatusOf,
  endpointsOfSlice,
  l2StatusOf,
  leaseOf,
  objectKey,
  vipsOfService,
  type BgpAdvertisement,
  type BgpPeerSpec,
  type KubeVipLease,
  type L2Announcement,
  type ServiceEndpoint,
  type ServiceVip,
} from './objects.js';
import { DNS_SUBDOMAIN } from '../net/kube-name.js';

export interface KubeStatus {
  connected: boolean;
  lastError: string | null;
  /** HTTP status of the last failed list (404: resource not installed, 403: not allowed), null otherwise */
  lastHttpStatus: number | null;
  lists: number;
  events: number;
  /** objects currently known */
  objects: number;
  /** objects refused because maxObjects were already held (at the last list, and added since) */
  ignored: number;
}

export interface WatcherOptions<T> {
  kubeconfig: KubeConfig;
  onChange: (items: T[]) => void;
  /** a new error (the same one repeating is not reported again) */
  onError?: (message: string) => void;
  backoffMs?: number;
  maxBackoffMs?: number;
  /** schedules relists after a failure (backoff with jitter); made from backoffMs/maxBackoffMs when absent */
  restarter?: Restarter;
  /** query parameters of the list and the watch (a fieldSelector) */
  query?: Record<string, string>;
  /** objects held at most: past it, new objects are ignored until some go away (those held are kept) */
  maxObjects?: number;
  /** hold only the objects that contribute items */
  dropEmpty?: boolean;
  /** items compared by this key: an event that leaves every key the same is stored without onChange (Lease renewals) */
  changeKey?: (item: T) => string;
}

export class KubeHttpError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'KubeHttpError';
  }
}

/** In-cluster when the pod's service account is mounted, else $KUBECONFIG / ~/.kube/config; null when neither. */
export function loadKubeConfig(path?: string): KubeConfig | null {
  const kc = new KubeConfig();
  try {
    if (path) kc.loadFromFile(path);
    else if (process.env['KUBERNETES_SERVICE_HOST']) kc.loadFromCluster();
    else kc.loadFromDefault();
  } catch {
    return null;
  }
  return kc.getCurrentCluster() ? kc : null;
}

/** An authenticated request to the API server; a non-2xx answer is an error naming the request and the status. */
export async function kubeRequest(
  kc: KubeConfig,
  method: 'GET' | 'POST',
  path: string,
  opts: { body?: unknown; timeoutMs: number },
): Promise<Response> {
  const res = await kubeHttp(kc, method, path, opts);
  if (res.status < 200 || res.status > 299)
    throw new KubeHttpError(`${method} ${path}: HTTP ${res.status} ${res.text.slice(0, 200)}`, res.status);
  const empty = res.status === 204 || res.status === 205;
  return new Response(empty ? null : res.text, { status: res.status, headers: { 'content-type': 'application/json' } });
}

/** List + watch of one resource path; `parse` turns an object into the items it contributes (none when malformed). */
export class ListWatcher<T> {
  readonly status: KubeStatus = { connected: false, lastError: null, lastHttpStatus: null, lists: 0, events: 0, objects: 0, ignored: 0 };
  private readonly objects = new Map<string, T[]>();
  private abort: AbortController | null = null;
  private stopped = false;
  private relistWanted = false;
  private readonly restarter: Restarter;

  constructor(
    private readonly path: string,
    private readonly parse: (o: unknown) => T[],
    private readonly opts: WatcherOptions<T>,
  ) {
    this.restarter = opts.restarter ?? new Restarter(path, { initialMs: opts.backoffMs ?? 1000, maxMs: opts.maxBackoffMs ?? 60_000 });
  }

  items(): T[] {
    return [...this.objects.values()].flat();
  }

  start(): void {
    void this.cycle();
  }

  private emit(): void {
    this.status.objects = this.objects.size;
    this.opts.onChange(this.items());
  }

  /** Lists again and watches from there: parse's filter changed, so objects it dropped may be wanted now. */
  relist(): void {
    this.relistWanted = true;
    this.abort?.abort();
  }

  private get pathWithQuery(): string {
    const q = new URLSearchParams(this.opts.query ?? {}).toString();
    return q ? `${this.path}?${q}` : this.path;
  }

  // Holds an object's items under the cap; true when what onChange would see changed.
  private store(k: string, o: unknown, added: boolean): boolean {
    const items = this.parse(o);
    const had = this.objects.get(k);
    if (items.length === 0 && this.opts.dropEmpty) return this.objects.delete(k);
    if (!had && this.opts.maxObjects !== undefined && this.objects.size >= this.opts.maxObjects) {
      if (added) this.status.ignored++;
      return false;
    }
    this.objects.set(k, items);
    const key = this.opts.changeKey;
    return !had || !key || had.length !== items.length || had.some((x, i) => key(x) !== key(items[i]!));
  }

  private fail(e: unknown): void {
    const msg = e instanceof Error ? e.message : String(e);
    if (msg !== this.status.lastError) this.opts.onError?.(msg);
    this.status.connected = false;
    this.status.lastError = msg;
    this.status.lastHttpStatus = e instanceof KubeHttpError ? e.status : null;
    if (this.stopped) return;
    this.restarter.failed(msg, () => void this.cycle());
  }

  private async list(): Promise<string> {
    const res = await kubeRequest(this.opts.kubeconfig, 'GET', this.pathWithQuery, { timeoutMs: 30_000 });
    const body = (await res.json()) as { metadata?: { resourceVersion?: string }; items?: unknown[] };
    if (!Array.isArray(body.items)) throw new Error(`GET ${this.path}: no items in the answer`);
    this.objects.clear();
    this.status.ignored = 0;
    for (const o of body.items) {
      const k = objectKey(o);
      if (k) this.store(k, o, true);
    }
    this.status.lists++;
    this.emit();
    return body.metadata?.resourceVersion ?? '';
  }

  private async cycle(): Promise<void> {
    if (this.stopped) return;
    this.relistWanted = false;
    let rv: string;
    try {
      rv = await this.list();
    } catch (e) {
      this.fail(e);
      return;
    }
    if (this.relistWanted) return void this.cycle();
    this.status.connected = true;
    this.status.lastError = null;
    this.status.lastHttpStatus = null;
    this.restarter.running();
    this.restarter.healthy();
    let relist = false;
    const watch = new Watch(this.opts.kubeconfig);
    try {
      this.abort = await watch.watch(
        this.path,
        { ...this.opts.query, resourceVersion: rv, allowWatchBookmarks: true },
        (phase, o: unknown) => {
          this.status.events++;
          if (phase === 'ERROR') {
            // 410 Gone: our resourceVersion is too old; anything else: start over as well.
            relist = true;
            this.status.lastError = `watch: ${JSON.stringify(o).slice(0, 200)}`;
            this.abort?.abort();
            return;
          }
          if (phase === 'BOOKMARK') return;
          const k = objectKey(o);
          if (!k) return;
          if (phase === 'DELETED' ? this.objects.delete(k) : this.store(k, o, phase === 'ADDED')) this.emit();
        },
        (err: unknown) => {
          if (this.stopped) return;
          if (relist || this.relistWanted || !err) void this.cycle();
          else this.fail(err);
        },
      );
    } catch (e) {
      this.fail(e);
    }
  }

  stop(): void {
    this.stopped = true;
    this.restarter.stop();
    this.abort?.abort();
  }
}

export const serviceWatcher = (opts: WatcherOptions<ServiceVip>) => new ListWatcher('/api/v1/services', vipsOfService, opts);

/** The Services' backends: where their VIPs are DNAT'd to, and on which node. */
export const endpointSliceWatcher = (opts: WatcherOptions<ServiceEndpoint>) =>
  new ListWatcher('/apis/discovery.k8s.io/v1/endpointslices', endpointsOfSlice, opts);

/** MetalLB's ServiceL2Status (metallb.io/v1beta1, MetalLB >= 0.14): absent CRD answers 404, missing RBAC 403. */
export const l2StatusWatcher = (opts: WatcherOptions<L2Announcement>) =>
  new ListWatcher(
    '/apis/metallb.io/v1beta1/servicel2statuses',
    (o) => {
      const a = l2StatusOf(o);
      return a ? [a] : [];
    },
    opts,
  );

/** MetalLB's ServiceBGPStatus (metallb.io/v1beta1, MetalLB >= 0.14): which nodes advertise a Service, to which peers. */
export const bgpStatusWatcher = (opts: WatcherOptions<BgpAdvertisement>) =>
  new ListWatcher(
    '/apis/metallb.io/v1beta1/servicebgpstatuses',
    (o) => {
      const a = bgpStatusOf(o);
      return a ? [a] : [];
    },
    opts,
  );

/** MetalLB's BGPPeer (metallb.io/v1beta2): the routers each node should peer with. */
export const bgpPeerWatcher = (opts: WatcherOptions<BgpPeerSpec>) =>
  new ListWatcher(
    '/apis/metallb.io/v1beta2/bgppeers',
    (o) => {
      const p = bgpPeerOf(o);
      return p ? [p] : [];
    },
    opts,
  );

/** kube-vip's Leases held at most (each an object of the API); past it, new ones are ignored and counted. */
export const MAX_KUBEVIP_LEASES = 1024;

/**
 * kube-vip's Leases (coordination.k8s.io/v1), in every namespace but kube-node-lease (a Lease per node, renewed every
 * 10 s, never kube-vip's): `wanted` picks kube-vip's from their namespace/name. Renewals (a new renewTime every few
 * seconds) are stored without onChange; only a new holder is a change.
 */
export const leaseWatcher = (opts: WatcherOptions<KubeVipLease> & { wanted: (lease: string) => boolean }) =>
  new ListWatcher(
    '/apis/coordination.k8s.io/v1/leases',
    (o) => {
      const l = leaseOf(o);
      return l && opts.wanted(l.lease) ? [l] : [];
    },
    {
      ...opts,
      query: { fieldSelector: 'metadata.namespace!=kube-node-lease' },
      maxObjects: MAX_KUBEVIP_LEASES,
      dropEmpty: true,
      changeKey: (l) => `${l.lease} ${l.holder ?? ''}`,
    },
  );

/** This node's labels, for BGPPeer node selectors (needs get on nodes). */
export async function nodeLabels(kc: KubeConfig, node: string): Promise<Record<string, string>> {
  if (!DNS_SUBDOMAIN.test(node)) throw new Error(`invalid node name ${JSON.stringify(node)}`);
  const res = await kubeRequest(kc, 'GET', `/api/v1/nodes/${node}`, { timeoutMs: 15_000 });
  const body = (await res.json()) as { metadata?: { labels?: Record<string, unknown> } };
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(body.metadata?.labels ?? {})) if (typeof v === 'string') out[k] = v;
  return out;
}
