// Kubernetes Service discovery: list, then watch from the list's resourceVersion; a 410 Gone (or any broken watch)
// means list again. Unreachable API: keep the last known VIPs, retry with backoff, report the error.

import { KubeConfig, Watch } from '@kubernetes/client-node';
import { serviceKey, vipsOfService, type ServiceVip } from '../parsers/kubernetes.js';

export interface KubeStatus {
  connected: boolean;
  lastError: string | null;
  lists: number;
  events: number;
  services: number;
}

export interface ServiceWatcherOptions {
  kubeconfig: KubeConfig;
  onChange: (vips: ServiceVip[]) => void;
  /** a new error (the same one repeating is not reported again) */
  onError?: (message: string) => void;
  backoffMs?: number;
  maxBackoffMs?: number;
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

export class ServiceWatcher {
  readonly status: KubeStatus = { connected: false, lastError: null, lists: 0, events: 0, services: 0 };
  private readonly services = new Map<string, ServiceVip[]>();
  private abort: AbortController | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private backoff: number;

  constructor(private readonly opts: ServiceWatcherOptions) {
    this.backoff = opts.backoffMs ?? 1000;
  }

  vips(): ServiceVip[] {
    return [...this.services.values()].flat();
  }

  start(): void {
    void this.cycle();
  }

  private emit(): void {
    this.status.services = this.services.size;
    this.opts.onChange(this.vips());
  }

  private fail(e: unknown): void {
    const msg = e instanceof Error ? e.message : String(e);
    if (msg !== this.status.lastError) this.opts.onError?.(msg);
    this.status.connected = false;
    this.status.lastError = msg;
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.cycle(), this.backoff);
    this.timer.unref();
    this.backoff = Math.min(this.backoff * 2, this.opts.maxBackoffMs ?? 60_000);
  }

  private async list(): Promise<string> {
    const kc = this.opts.kubeconfig;
    const cluster = kc.getCurrentCluster()!;
    const init = await kc.applyToFetchOptions({});
    const res = await fetch(`${cluster.server}/api/v1/services`, { ...(init as RequestInit), method: 'GET', signal: AbortSignal.timeout(30_000) });
    if (!res.ok) throw new Error(`GET /api/v1/services: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
    const body = (await res.json()) as { metadata?: { resourceVersion?: string }; items?: unknown[] };
    if (!Array.isArray(body.items)) throw new Error('GET /api/v1/services: no items in the answer');
    this.services.clear();
    for (const s of body.items) {
      const k = serviceKey(s);
      if (k) this.services.set(k, vipsOfService(s));
    }
    this.status.lists++;
    this.emit();
    return body.metadata?.resourceVersion ?? '';
  }

  private async cycle(): Promise<void> {
    if (this.stopped) return;
    let rv: string;
    try {
      rv = await this.list();
    } catch (e) {
      this.fail(e);
      return;
    }
    this.status.connected = true;
    this.status.lastError = null;
    this.backoff = this.opts.backoffMs ?? 1000;
    let relist = false;
    const watch = new Watch(this.opts.kubeconfig);
    try {
      this.abort = await watch.watch(
        '/api/v1/services',
        { resourceVersion: rv, allowWatchBookmarks: true },
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
          const k = serviceKey(o);
          if (!k) return;
          if (phase === 'DELETED') this.services.delete(k);
          else this.services.set(k, vipsOfService(o));
          this.emit();
        },
        (err: unknown) => {
          if (this.stopped) return;
          if (relist || !err) void this.cycle();
          else this.fail(err);
        },
      );
    } catch (e) {
      this.fail(e);
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.abort?.abort();
  }
}
