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

/** An authenticated request to the API server; a non-2xx answer is an error naming the request and the status. */
export async function kubeRequest(kc: KubeConfig, method: 'GET' | 'POST', path: string, opts: { body?: unknown; timeoutMs: number }): Promise<Response> {
  const init = (await kc.applyToFetchOptions({})) as RequestInit;
  const headers = new Headers(init.headers as ConstructorParameters<typeof Headers>[0]);
  if (opts.body !== undefined) headers.set('content-type', 'application/json');
  const res = await fetch(`${kc.getCurrentCluster()!.server}${path}`, {
    ...init,
    headers,
    method,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    signal: AbortSignal.timeout(opts.timeoutMs),
  });
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
  return res;
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
    const res = await kubeRequest(this.opts.kubeconfig, 'GET', '/api/v1/services', { timeoutMs: 30_000 });
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
