// Kubernetes Events on a Service when its VIP's reply path turns asymmetric on this node and when it clears.
// Deduplicated (a raise is only reported again after a clear) and rate-limited per Service and reason.

import type { KubeConfig } from '@kubernetes/client-node';
import { kubeRequest } from './api.js';

export type EventReason = 'AsymmetricReplyPath' | 'ReplyPathRestored';

export interface ServiceEvent {
  service: string; // namespace/name
  reason: EventReason;
  message: string;
}

export interface EventSinkOptions {
  kubeconfig: KubeConfig;
  node: string;
  /** at most one Event per Service and reason in this window */
  minIntervalMs?: number;
  onError?: (message: string) => void;
  now?: () => number;
}

export class ServiceEvents {
  private readonly last = new Map<string, number>();
  private readonly state = new Map<string, EventReason>();
  posted = 0;
  suppressed = 0;

  constructor(private readonly opts: EventSinkOptions) {}

  /** Records a state; posts an Event when it changed and the rate limit allows. */
  async report(e: ServiceEvent): Promise<boolean> {
    const prev = this.state.get(e.service);
    if (prev === e.reason || (prev === undefined && e.reason === 'ReplyPathRestored')) return false;
    const key = `${e.service}|${e.reason}`;
    const now = (this.opts.now ?? Date.now)();
    const last = this.last.get(key);
    if (last !== undefined && now - last < (this.opts.minIntervalMs ?? 300_000)) {
      this.suppressed++;
      return false;
    }
    const [namespace, name] = e.service.split('/') as [string, string];
    const at = new Date(now).toISOString();
    const body = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: `${name}.asymroute.`, namespace },
      involvedObject: { apiVersion: 'v1', kind: 'Service', namespace, name },
      reason: e.reason,
      message: e.message.slice(0, 1000),
      type: e.reason === 'AsymmetricReplyPath' ? 'Warning' : 'Normal',
      source: { component: 'asymroute', host: this.opts.node },
      reportingComponent: 'asymroute',
      reportingInstance: this.opts.node,
      firstTimestamp: at,
      lastTimestamp: at,
      count: 1,
    };
    try {
      await kubeRequest(this.opts.kubeconfig, 'POST', `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`, {
        body,
        timeoutMs: 10_000,
      });
    } catch (err) {
      this.opts.onError?.((err as Error).message);
      return false;
    }
    this.state.set(e.service, e.reason);
    this.last.set(key, now);
    this.posted++;
    return true;
  }
}

/**
 * The Events exporter: it reads finding transitions (and the VIP's Service) and posts an Event for the reply path of
 * a Service's VIP turning asymmetric on this node, and for it clearing.
 */
export function eventsExporter(
  events: ServiceEvents,
  o: { node: string; serviceOf: (vip: string | null) => string | null; log: (rec: Record<string, unknown>) => void },
): (t: { event: string; type: string; vip: string | null; summary: string }) => void {
  return (t) => {
    const service = o.serviceOf(t.vip);
    if (!service || t.type !== 'asymmetric-reply-path') return;
    const raised = t.event === 'finding-raised';
    const reason: EventReason = raised ? 'AsymmetricReplyPath' : 'ReplyPathRestored';
    const suppressedBefore = events.suppressed;
    void events
      .report({
        service,
        reason,
        message: raised
          ? `on node ${o.node}: ${t.summary}`
          : `on node ${o.node}: replies for ${t.vip} leave on the interface requests arrive on again`,
      })
      .then((posted) => {
        if (posted) o.log({ event: 'kubernetes-event-posted', service, reason });
        else if (events.suppressed > suppressedBefore) o.log({ event: 'kubernetes-event-rate-limited', service, reason });
      });
  };
}
