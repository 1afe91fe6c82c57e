// L2 evidence for VIPs from captured ARP (IPv4) and NDP (IPv6): who asks for a VIP, whether this node answers, and
// which MACs claim it (replies and unsolicited announcements). Pure: packets in, counters and findings out.
//
// What "unanswered" means here: a requester whose request is answered caches the answer and stays quiet (later
// re-confirmations are unicast to the owner, which other hosts never see); one that gets no answer broadcasts again
// about every second (Linux: mcast_solicit=3, retrans_time 1 s). So a node that does not announce the VIP sees one
// request per requester now and then when all is well, and the same requester retrying when nobody answers.

import type { PacketSummary } from '../decoders/packet.js';
import { finding, type Finding } from '../findings/registry.js';

/** How an ARP packet relates to a VIP; the bounded set used as table-test cases. */
export type NeighbourRole =
  'request' | 'reply-sent' | 'claim-seen' | 'announce-sent' | 'announce-seen' | 'probe' | 'not-vip' | 'no-interface';

export interface NeighbourWatchOptions {
  vips: string[];
  ifname: (ifindex: number) => string | null;
  /** how far back findings look */
  windowMs?: number;
  /** requests from one requester within the window that make it "retrying" */
  retries?: number;
  /** called at each counted packet, where the metrics count it */
  onCount?: (vip: string, iface: string, kind: keyof NeighbourCounters) => void;
}

interface Claim {
  mac: string;
  iface: string;
  own: boolean;
  lastSeen: number;
}

interface VipState {
  /** "iface requester-ip" -> request times within the window (bounded) */
  requesters: Map<string, number[]>;
  replyTimes: number[];
  claims: Map<string, Claim>;
}

/** Monotonic counters per VIP and interface, for metrics. */
export interface NeighbourCounters {
  requests: number;
  repliesSent: number;
  announcementsSent: number;
  announcementsSeen: number;
}

export interface NeighbourVipView {
  vip: string;
  /** requests in the window, by interface */
  requests: Record<string, number>;
  requesters: number;
  /** requesters that asked at least `retries` times in the window */
  retrying: number;
  repliesSent: number;
  /** distinct MACs that claimed the VIP in the window */
  owners: Array<{ mac: string; iface: string; own: boolean }>;
}

const MAX_REQUESTERS = 256;
const MAX_TIMES = 64;

export class NeighbourWatch {
  private readonly vips: Set<string>;
  private readonly state = new Map<string, VipState>();
  /** "vip|iface" -> counters since start */
  readonly counters = new Map<string, NeighbourCounters>();
  private readonly windowMs: number;
  readonly retries: number;

  constructor(private readonly opts: NeighbourWatchOptions) {
    this.vips = new Set(opts.vips);
    this.windowMs = opts.windowMs ?? 60_000;
    this.retries = opts.retries ?? 3;
    for (const v of this.vips) this.state.set(v, { requesters: new Map(), replyTimes: [], claims: new Map() });
  }

  /** Classifies one decoded packet and records it; returns the role for tests and counters. */
  observe(d: PacketSummary, ts: number): NeighbourRole | null {
    const n = neighbourRecord(d);
    if (!n) return null;
    const vip = this.vips.has(n.target) ? n.target : null;
    if (!vip) return 'not-vip';
    // An ARP probe (RFC 5227, sender 0.0.0.0) or NDP duplicate address detection (source ::) checks whether the VIP
    // is free: neither a request nor a claim.
    if (n.op === 'probe') return 'probe';
    const iface = d.ifindex === null ? null : (this.opts.ifname(d.ifindex) ?? `if${d.ifindex}`);
    if (!iface) return 'no-interface';
    const s = this.state.get(vip)!;
    const count = (k: keyof NeighbourCounters) => {
      const key = `${vip}|${iface}`;
      const c = this.counters.get(key) ?? { requests: 0, repliesSent: 0, announcementsSent: 0, announcementsSeen: 0 };
      c[k]++;
      this.counters.set(key, c);
      this.opts.onCount?.(vip, iface, k);
    };
    const claim = (own: boolean) => n.mac && s.claims.set(n.mac, { mac: n.mac, iface, own, lastSeen: ts });
    if (n.op === 'announce') {
      claim(n.outgoing);
      count(n.outgoing ? 'announcementsSent' : 'announcementsSeen');
      return n.outgoing ? 'announce-sent' : 'announce-seen';
    }
    if (n.op === 'reply') {
      claim(n.outgoing);
      if (!n.outgoing) return 'claim-seen';
      count('repliesSent');
      pushBounded(s.replyTimes, ts);
      return 'reply-sent';
    }
    // Our own requests for the VIP (e.g. the active probe) are not someone asking.
    if (n.outgoing) return 'not-vip';
    count('requests');
    const key = `${iface} ${n.sender}`;
    let times = s.requesters.get(key);
    if (!times) {
      if (s.requesters.size >= MAX_REQUESTERS) this.prune(s, ts);
      if (s.requesters.size >= MAX_REQUESTERS) return 'request';
      times = [];
      s.requesters.set(key, times);
    }
    pushBounded(times, ts);
    return 'request';
  }

  private prune(s: VipState, now: number): void {
    const from = now - this.windowMs;
    for (const [k, t] of s.requesters) {
      while (t.length > 0 && t[0]! < from) t.shift();
      if (t.length === 0) s.requesters.delete(k);
    }
    while (s.replyTimes.length > 0 && s.replyTimes[0]! < from) s.replyTimes.shift();
    for (const [k, c] of s.claims) if (c.lastSeen < from) s.claims.delete(k);
  }

  /** What the window holds for each VIP. */
  view(now: number): NeighbourVipView[] {
    return [...this.state].map(([vip, s]) => {
      this.prune(s, now);
      const requests: Record<string, number> = {};
      let retrying = 0;
      for (const [key, t] of s.requesters) {
        const iface = key.slice(0, key.indexOf(' '));
        requests[iface] = (requests[iface] ?? 0) + t.length;
        if (t.length >= this.retries) retrying++;
      }
      return {
        vip,
        requests,
        requesters: s.requesters.size,
        retrying,
        repliesSent: s.replyTimes.length,
        owners: [...s.claims.values()].sort((x, y) => x.mac.localeCompare(y.mac)).map(({ mac, iface, own }) => ({ mac, iface, own })),
      };
    });
  }
}

/** ARP and NDP alike: who asks for which address, who answers or announces it, from which MAC. */
interface NeighbourRecord {
  op: 'request' | 'reply' | 'announce' | 'probe';
  /** the address asked about or claimed */
  target: string;
  /** the requester's address (requests) */
  sender: string;
  mac: string | null;
  outgoing: boolean;
}

function neighbourRecord(d: PacketSummary): NeighbourRecord | null {
  const outgoing = d.direction === 'outgoing';
  const a = d.arp;
  if (d.kind === 'arp' && a) {
    if (a.senderIp === a.targetIp) return { op: 'announce', target: a.senderIp, sender: a.senderIp, mac: a.senderMac, outgoing };
    if (a.op === 2) return { op: 'reply', target: a.senderIp, sender: a.senderIp, mac: a.senderMac, outgoing };
    if (a.op === 1)
      return { op: a.senderIp === '0.0.0.0' ? 'probe' : 'request', target: a.targetIp, sender: a.senderIp, mac: a.senderMac, outgoing };
    return null;
  }
  const n = d.ndp;
  if (!n || !d.src) return null;
  // RFC 4861: an NA's target link-layer option names the owner; without it, the frame's source MAC does.
  const mac = n.lla ?? d.srcMac;
  if (n.type === 135) return { op: d.src === '::' ? 'probe' : 'request', target: n.target, sender: d.src, mac, outgoing };
  return { op: n.solicited ? 'reply' : 'announce', target: n.target, sender: d.src, mac, outgoing };
}

function pushBounded(a: number[], v: number): void {
  a.push(v);
  if (a.length > MAX_TIMES) a.shift();
}

/** The last active probe of a VIP (arping or ndisc6 from this node on its ingress interface). */
export interface NeighbourProbe {
  vip: string;
  iface: string;
  at: number;
  answers: Array<{ mac: string; ms: number | null }>;
  error: string | null;
}

export interface ArpFindingContext {
  /** who says which nodes announce each VIP, when known: MetalLB L2 (the default) or kube-vip (the holder) */
  announcedBy?: (vip: string) => { here: boolean; nodes: string[]; by?: 'MetalLB' | 'kube-vip' } | null;
  probe?: (vip: string) => NeighbourProbe | null;
  /** this node holds the VIP or announces it: its own probe is never answered from the wire */
  answersHere?: (vip: string) => boolean;
}

export function neighbourFindings(views: NeighbourVipView[], retries: number, ctx: ArpFindingContext = {}): Finding[] {
  const out: Finding[] = [];
  for (const v of views) {
    const others = v.owners.filter((o) => !o.own);
    const probe = ctx.probe?.(v.vip) ?? null;
    const ifaces = Object.keys(v.requests);
    const iface = ifaces.length === 1 ? ifaces[0]! : (probe?.iface ?? null);
    const proto = v.vip.includes(':') ? 'NDP' : 'ARP';
    const probeSilent = probe !== null && probe.error === null && probe.answers.length === 0 && !ctx.answersHere?.(v.vip);
    if ((v.retrying > 0 || probeSilent) && v.repliesSent === 0 && others.length === 0) {
      const ann = ctx.announcedBy?.(v.vip) ?? null;
      const who = !ann
        ? 'no host answered it'
        : ann.by === 'kube-vip'
          ? ann.here
            ? 'kube-vip says this node holds it: is its kube-vip pod running, in ARP mode?'
            : `kube-vip says ${ann.nodes.join(', ')} holds it: is that node up, and its kube-vip pod?`
          : ann.here
            ? 'MetalLB says this node announces it: is its speaker running?'
            : `MetalLB says ${ann.nodes.join(', ')} announces it: is that node up, and its speaker?`;
      out.push(
        finding('vip-arp-unanswered', {
          vip: v.vip,
          summary:
            v.retrying > 0
              ? `${v.vip}: ${v.retrying} of ${v.requesters} hosts keep asking who has it (${proto}${iface ? ` on ${iface}` : ''}) and nobody answers: this node sent no reply and no other MAC announced it; ${who}`
              : `${v.vip}: nobody answers ${proto} for it: this node's probe on ${probe!.iface} got no answer and no MAC announced it; ${who}`,
          evidence: [
            `in the window: requests ${
              Object.entries(v.requests)
                .map(([i, n]) => `${i} ${n}`)
                .join(', ') || 'none'
            }, ${v.retrying} requesters asked ${retries} times or more, replies sent by this node 0, announcements from other MACs 0`,
            ...(probe
              ? [
                  `${proto} probe on ${probe.iface} at ${new Date(probe.at).toISOString()}: ${probe.error ?? (probe.answers.length ? probe.answers.map((a) => (a.ms === null ? a.mac : `${a.mac} ${a.ms} ms`)).join(', ') : 'no answer')}`,
                ]
              : []),
          ],
          remediation: [
            {
              title: 'find the node that should announce the VIP, and its speaker',
              commands: [
                'kubectl -n metallb-system get servicel2statuses.metallb.io -o wide',
                'kubectl -n metallb-system get pods -o wide -l component=speaker',
              ],
              note: 'Clients see "no route to host" while nobody answers ARP for the VIP.',
            },
          ],
          ingress: iface,
        }),
      );
    }
    if (v.owners.length >= 2) {
      out.push(
        finding('vip-arp-conflict', {
          vip: v.vip,
          summary: `${v.vip}: ${v.owners.length} MACs claim it: ${v.owners.map((o) => `${o.mac} (${o.own ? `this node, ${o.iface}` : `seen on ${o.iface}`})`).join(', ')}`,
          evidence: [
            proto === 'ARP'
              ? 'ARP replies and gratuitous announcements with the VIP as sender address, in the window'
              : 'NDP neighbour advertisements for the VIP (solicited and unsolicited), in the window',
          ],
          remediation: [
            {
              title: 'two speakers (or a host that also holds the address) answer for the VIP: clients flap between them',
              commands: [],
              note: "Check that only one L2 announcer owns the VIP (MetalLB: one ServiceL2Status per Service; kube-vip: one holder of the Service's Lease, and not MetalLB too), that no host has the address configured, and, for two MACs of one node, arp_ignore=1 and arp_announce=2.",
            },
          ],
          ingress: iface,
        }),
      );
    }
  }
  return out;
}
