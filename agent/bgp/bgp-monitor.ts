// BGP session health as a monitor: `ss` every few seconds for established sessions on port 179 (once a minute while
// no peer is known), the capture's port-179 packets for how attempts end, and the peers this node must have
// (--bgp-peer, MetalLB BGPPeers).

import { Counter, Gauge, type Registry } from 'prom-client';
import type { PacketTap } from '../analysis/packet-feed.js';
import type { Finding } from '../findings/registry.js';
import type { Endpoint, LogFn, Monitor, MonitorHealth, ReportSection } from '../findings/monitor.js';
import { BGP_PORT, bgpFindings, BgpTracker, MAX_UNEXPECTED_SOURCES } from './sessions.js';
import { readTcpSockets } from './ss.js';

export interface BgpMonitorOptions {
  /** peers that must be up (--bgp-peer) */
  peers: string[];
  /** between two polls while any peer is known (expected, or seen with a session or an attempt) */
  pollMs: number;
  /** between two polls while none is (default 60 s); whether one is known is looked at every pollMs */
  idlePollMs?: number;
  /** peers Kubernetes expects this node to have (MetalLB BGPPeer), peer -> who expects it; read at each poll */
  expected?: () => Map<string, string>;
  log: LogFn;
  registry: Registry;
  changed: () => void;
}

/** between two ss polls while no BGP peer is known */
export const BGP_IDLE_POLL_MS = 60_000;

export class BgpMonitor implements Monitor {
  readonly name = 'bgp';
  readonly tracker: BgpTracker;
  /** the capture hands port-179 packets here */
  readonly tap: { port: number; tap: PacketTap };
  error: string | null = null;
  /** ss runs so far */
  polls = 0;
  private polled = false;
  private polling = false;
  private timer: NodeJS.Timeout | null = null;
  private lastPollAt = -Infinity;
  private stopped = false;

  constructor(private readonly opts: BgpMonitorOptions) {
    this.tracker = new BgpTracker(opts.peers, Date.now());
    this.tap = { port: BGP_PORT, tap: this.tracker };
    const registers = [opts.registry];
    const resets = new Counter({
      name: 'asymroute_bgp_peer_resets_total',
      help: 'TCP resets received from a BGP peer on port 179 (a router that does not accept this node resets right after the handshake).',
      labelNames: ['peer'],
      registers,
    });
    this.tracker.onReset = (peer) => resets.inc({ peer });
    this.tracker.onForget = (peer) => resets.remove({ peer });
    const unexpected = new Counter({
      name: 'asymroute_bgp_unexpected_syns_total',
      help: 'SYNs to port 179 (and half-open sockets) from sources that are no known peer: no series or finding of their own, whatever their number.',
      registers,
    });
    this.tracker.onUnexpected = () => unexpected.inc();
    const tracker = this.tracker;
    new Gauge({
      name: 'asymroute_bgp_unexpected_sources',
      help: `Distinct sources of unexpected SYNs to port 179 seen in the last minute (bounded: at most ${MAX_UNEXPECTED_SOURCES}, oldest forgotten).`,
      registers,
      collect() {
        this.set(tracker.unexpectedSources.size);
      },
    });
    new Gauge({
      name: 'asymroute_bgp_session_up',
      help: 'BGP sessions on TCP port 179 by peer (router) address: 1 when established for two polls in a row, else 0. Peers from --bgp-peer and MetalLB BGPPeers, and those this node dials or holds an established session with (at most 64); other sources only count in asymroute_bgp_unexpected_syns_total.',
      labelNames: ['peer', 'expected'],
      registers,
      collect() {
        this.reset();
        for (const p of tracker.view(Date.now())) this.set({ peer: p.peer, expected: String(p.expected) }, p.up ? 1 : 0);
      },
    });
  }

  async start(): Promise<void> {
    await this.poll();
    if (this.stopped) return;
    this.timer = setInterval(() => this.tick(), this.opts.pollMs);
    this.timer.unref();
  }

  /**
   * ss every pollMs while a peer is known (configured, expected by Kubernetes, or seen: a SYN this node sends to a
   * router's port 179 in the capture is enough), else every idlePollMs: most nodes have no BGP, and an ss run every
   * few seconds for nothing was the largest part of the agent's CPU at rest.
   */
  private tick(): void {
    const known = this.tracker.peerCount > 0 || (this.opts.expected?.().size ?? 0) > 0;
    if (known || Date.now() - this.lastPollAt >= (this.opts.idlePollMs ?? BGP_IDLE_POLL_MS)) void this.poll();
  }

  private async poll(): Promise<void> {
    if (this.stopped || this.polling) return;
    this.polling = true;
    this.polls++;
    this.lastPollAt = Date.now();
    try {
      const r = await readTcpSockets(BGP_PORT);
      if (r.bad.length > 0) this.opts.log({ event: 'ss-unparsed', lines: r.bad.slice(0, 3) });
      const expected = new Map([...(this.opts.expected?.() ?? []), ...this.opts.peers.map((p) => [p, '--bgp-peer'] as [string, string])]);
      this.tracker.setExpected(expected, Date.now());
      this.tracker.poll(r.sockets, Date.now());
      if (this.error) this.opts.log({ event: 'bgp-poll-recovered' });
      this.error = null;
    } catch (e) {
      if ((e as Error).message !== this.error) this.opts.log({ event: 'bgp-poll-failed', error: (e as Error).message });
      this.error = (e as Error).message;
    }
    this.polled = true;
    this.polling = false;
    this.opts.changed();
  }

  view(): { error: string | null; peers: ReturnType<BgpTracker['view']> } {
    return { error: this.error, peers: this.tracker.view(Date.now()) };
  }

  findings(now: number): Finding[] {
    return this.polled ? bgpFindings(this.tracker.view(now)) : [];
  }

  health(): MonitorHealth {
    return { ok: true, state: this.error ? 'poll-failing' : 'polling', detail: { lastError: this.error } };
  }

  report(): ReportSection {
    const b = this.view();
    const text: string[] = [];
    if (b.error) text.push(`BGP: UNKNOWN (${b.error})`);
    else if (b.peers.length === 0) text.push('BGP: no session on port 179 seen, no --bgp-peer configured');
    else
      for (const p of b.peers)
        text.push(
          `BGP: ${p.peer} ${p.up ? 'up' : 'DOWN'} since ${new Date(p.since).toISOString()}${p.expected ? ` (expected by ${p.expectedBy})` : ' (seen, not configured)'}${p.up || !p.tcpState ? '' : `, TCP ${p.tcpState}`}`,
        );
    return { json: { bgp: b }, text };
  }

  endpoints(): Endpoint[] {
    return [{ path: '/v1/bgp', get: () => ({ body: this.view() }) }];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
  }
}
