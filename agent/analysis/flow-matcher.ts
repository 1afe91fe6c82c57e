// Matches requests to VIPs with their replies, per flow: where did the request come in, where did the reply go out?
// Requests: packets to a VIP received on interface X (any direction but OUTGOING). Replies: packets from a VIP
// with direction OUTGOING on interface Y. Flows live in typed arrays (bounded capacity, idle expiry, evictions
// counted), so a million flows stay within a fixed, small memory budget.

import type { PacketSummary } from '../decoders/packet.js';
import { TCP_ACK, TCP_RST, TCP_SYN } from '../decoders/transport.js';

export type FlowOutcome = 'symmetric' | 'asymmetric' | 'unanswered' | 'reset' | 'pending';
export const FLOW_OUTCOMES: FlowOutcome[] = ['symmetric', 'asymmetric', 'unanswered', 'reset', 'pending'];

/** Why a packet did not join a flow: bounded enum, usable as a metric label. */
export type PacketSkip = 'not-ip' | 'not-vip' | 'no-interface' | 'no-ports' | 'outgoing-request' | 'incoming-reply';

export interface FlowMatcherOptions {
  vips: string[];
  capacity?: number;
  /** ms without packets after which a flow is closed */
  idleMs?: number;
  /** ms a request may wait for its reply before it counts as unanswered */
  answerMs?: number;
  ifname?: (ifindex: number) => string | null;
}

export interface FlowView {
  vip: string;
  vport: number;
  client: string;
  cport: number;
  proto: number;
  ingress: string | null;
  egress: string | null;
  firstSeen: number;
  lastSeen: number;
  packetsIn: number;
  packetsOut: number;
  syns: number;
  synAck: boolean;
  reset: boolean;
  outcome: FlowOutcome;
}

export interface VipTally {
  outcomes: Record<FlowOutcome, number>;
  /** "eth1>eth0" -> flows */
  paths: Record<string, number>;
  /** request packets per ingress interface */
  ingressPackets: Record<string, number>;
  retransmittedSyns: number;
}

const F_SYNACK = 1;
const F_RST = 2;

export class FlowMatcher {
  readonly capacity: number;
  private readonly idleMs: number;
  private readonly answerMs: number;
  private readonly vipSet: Set<string>;
  private readonly ifname: (i: number) => string | null;
  private readonly index = new Map<string, number>();
  private readonly free: number[] = [];
  private next = 0;
  // slot -> fields
  private readonly keys: (string | null)[];
  private readonly first: Float64Array;
  private readonly last: Float64Array;
  private readonly pin: Uint32Array;
  private readonly pout: Uint32Array;
  private readonly syns: Uint16Array;
  private readonly flags: Uint8Array;
  private readonly ingress: Uint16Array; // interned interface id + 1; 0 = none
  private readonly egress: Uint16Array;
  private readonly ifaces: string[] = [];
  private readonly ifaceIds = new Map<string, number>();

  readonly skipped: Record<PacketSkip, number> = { 'not-ip': 0, 'not-vip': 0, 'no-interface': 0, 'no-ports': 0, 'outgoing-request': 0, 'incoming-reply': 0 };
  evictions = 0;
  expired = 0;
  /** closed flows, per VIP */
  private readonly closed = new Map<string, VipTally>();
  private readonly clients = new Map<string, Set<string>>();
  private readonly ingressPackets = new Map<string, Record<string, number>>();

  constructor(opts: FlowMatcherOptions) {
    this.capacity = opts.capacity ?? 1_000_000;
    this.idleMs = opts.idleMs ?? 120_000;
    this.answerMs = opts.answerMs ?? 3_000;
    this.vipSet = new Set(opts.vips);
    this.ifname = opts.ifname ?? ((i) => `if${i}`);
    const n = this.capacity;
    this.keys = new Array<string | null>(n).fill(null);
    this.first = new Float64Array(n);
    this.last = new Float64Array(n);
    this.pin = new Uint32Array(n);
    this.pout = new Uint32Array(n);
    this.syns = new Uint16Array(n);
    this.flags = new Uint8Array(n);
    this.ingress = new Uint16Array(n);
    this.egress = new Uint16Array(n);
  }

  get size(): number {
    return this.index.size;
  }

  private ifaceId(ifindex: number): number {
    const name = this.ifname(ifindex) ?? `if${ifindex}`;
    let id = this.ifaceIds.get(name);
    if (id === undefined) {
      id = this.ifaces.length;
      this.ifaces.push(name);
      this.ifaceIds.set(name, id);
    }
    return id + 1;
  }

  /** Returns null when the packet joined a flow, else why it did not. */
  observe(p: PacketSummary, ts: number): PacketSkip | null {
    if (p.kind !== 'ip' || p.src === null || p.dst === null) return this.skip('not-ip');
    const toVip = this.vipSet.has(p.dst);
    const fromVip = this.vipSet.has(p.src);
    if (!toVip && !fromVip) return this.skip('not-vip');
    if (p.ifindex === null) return this.skip('no-interface');
    const outgoing = p.direction === 'outgoing';
    // A VIP talking to itself counts as a request on the receiving side.
    const isRequest = toVip && !outgoing;
    if (!isRequest && !(fromVip && outgoing)) return this.skip(toVip ? 'outgoing-request' : 'incoming-reply');
    const hasPorts = p.sport !== null;
    if (!hasPorts && p.proto !== 1 && p.proto !== 58) return this.skip('no-ports');
    const vip = isRequest ? p.dst : p.src;
    const client = isRequest ? p.src : p.dst;
    const vport = (isRequest ? p.dport : p.sport) ?? 0;
    const cport = (isRequest ? p.sport : p.dport) ?? 0;
    const key = `${p.proto}|${vip}|${vport}|${client}|${cport}`;
    let slot = this.index.get(key);
    if (slot === undefined) {
      if (!isRequest) return this.replyWithoutRequest(p, ts, key);
      slot = this.allocate(key, ts);
    }
    this.last[slot] = ts;
    const iface = this.ifaceId(p.ifindex);
    const flags = p.tcpFlags ?? 0;
    if (isRequest) {
      this.pin[slot]!++;
      if (this.ingress[slot] === 0) this.ingress[slot] = iface;
      if ((flags & (TCP_SYN | TCP_ACK)) === TCP_SYN && this.syns[slot]! < 0xffff) this.syns[slot]!++;
      if (flags & TCP_RST) this.flags[slot]! |= F_RST;
      const per = this.ingressPackets.get(vip) ?? {};
      const name = this.ifaces[iface - 1]!;
      per[name] = (per[name] ?? 0) + 1;
      this.ingressPackets.set(vip, per);
      let cs = this.clients.get(vip);
      if (!cs) this.clients.set(vip, (cs = new Set()));
      if (cs.size < 64) cs.add(client);
    } else {
      this.pout[slot]!++;
      if (this.egress[slot] === 0) this.egress[slot] = iface;
      if ((flags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK)) this.flags[slot]! |= F_SYNACK;
      if (flags & TCP_RST) this.flags[slot]! |= F_RST;
    }
    return null;
  }

  // A reply whose request was not captured (the capture started mid-flow): recorded as its own flow.
  private replyWithoutRequest(p: PacketSummary, ts: number, key: string): null {
    const slot = this.allocate(key, ts);
    this.pout[slot] = 1;
    this.egress[slot] = this.ifaceId(p.ifindex!);
    if (((p.tcpFlags ?? 0) & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK)) this.flags[slot] = F_SYNACK;
    return null;
  }

  private skip(reason: PacketSkip): PacketSkip {
    this.skipped[reason]++;
    return reason;
  }

  private allocate(key: string, ts: number): number {
    let slot = this.free.pop();
    if (slot === undefined) {
      if (this.next < this.capacity) slot = this.next++;
      else {
        // Full: evict the flow that was inserted first (Map keeps insertion order).
        const [oldKey, oldSlot] = this.index.entries().next().value as [string, number];
        this.close(oldKey, oldSlot, Number.POSITIVE_INFINITY);
        this.evictions++;
        slot = this.free.pop()!;
      }
    }
    this.index.set(key, slot);
    this.keys[slot] = key;
    this.first[slot] = ts;
    this.last[slot] = ts;
    this.pin[slot] = 0;
    this.pout[slot] = 0;
    this.syns[slot] = 0;
    this.flags[slot] = 0;
    this.ingress[slot] = 0;
    this.egress[slot] = 0;
    return slot;
  }

  private outcomeOf(slot: number, now: number): FlowOutcome {
    if (this.flags[slot]! & F_RST) return 'reset';
    if (this.pout[slot] === 0) return now - this.first[slot]! >= this.answerMs ? 'unanswered' : 'pending';
    if (this.pin[slot] === 0) return 'pending';
    return this.ingress[slot] === this.egress[slot] ? 'symmetric' : 'asymmetric';
  }

  private view(slot: number, now: number): FlowView {
    const [proto, vip, vport, client, cport] = this.keys[slot]!.split('|');
    const name = (id: number) => (id === 0 ? null : this.ifaces[id - 1]!);
    return {
      vip: vip!,
      vport: Number(vport),
      client: client!,
      cport: Number(cport),
      proto: Number(proto),
      ingress: name(this.ingress[slot]!),
      egress: name(this.egress[slot]!),
      firstSeen: this.first[slot]!,
      lastSeen: this.last[slot]!,
      packetsIn: this.pin[slot]!,
      packetsOut: this.pout[slot]!,
      syns: this.syns[slot]!,
      synAck: (this.flags[slot]! & F_SYNACK) !== 0,
      reset: (this.flags[slot]! & F_RST) !== 0,
      outcome: this.outcomeOf(slot, now),
    };
  }

  private tallyFor(vip: string): VipTally {
    let t = this.closed.get(vip);
    if (!t) {
      t = { outcomes: { symmetric: 0, asymmetric: 0, unanswered: 0, reset: 0, pending: 0 }, paths: {}, ingressPackets: {}, retransmittedSyns: 0 };
      this.closed.set(vip, t);
    }
    return t;
  }

  private addTo(t: VipTally, v: FlowView): void {
    t.outcomes[v.outcome]++;
    if (v.syns > 1) t.retransmittedSyns += v.syns - 1;
    const k = `${v.ingress ?? '?'}>${v.egress ?? '-'}`;
    t.paths[k] = (t.paths[k] ?? 0) + 1;
  }

  private close(key: string, slot: number, now: number): void {
    const v = this.view(slot, now);
    this.addTo(this.tallyFor(v.vip), v);
    this.index.delete(key);
    this.keys[slot] = null;
    this.free.push(slot);
  }

  /** Closes flows idle for longer than idleMs (call periodically with the capture clock). */
  expire(now: number): number {
    let n = 0;
    for (const [key, slot] of this.index) {
      if (now - this.last[slot]! > this.idleMs) {
        this.close(key, slot, now);
        n++;
      }
    }
    this.expired += n;
    return n;
  }

  /** Open flows, most recent first, optionally filtered. */
  flows(now: number, filter: { vip?: string; outcome?: FlowOutcome; limit?: number } = {}): FlowView[] {
    const out: FlowView[] = [];
    for (const slot of this.index.values()) {
      const v = this.view(slot, now);
      if (filter.vip && v.vip !== filter.vip) continue;
      if (filter.outcome && v.outcome !== filter.outcome) continue;
      out.push(v);
    }
    out.sort((a, b) => b.lastSeen - a.lastSeen);
    return filter.limit ? out.slice(0, filter.limit) : out;
  }

  /** Closed plus open flows, per VIP. */
  tally(now: number): Map<string, VipTally> {
    const res = new Map<string, VipTally>();
    const get = (vip: string) => {
      let t = res.get(vip);
      if (!t) {
        const c = this.closed.get(vip);
        t = c ? { outcomes: { ...c.outcomes }, paths: { ...c.paths }, ingressPackets: {}, retransmittedSyns: c.retransmittedSyns } : { outcomes: { symmetric: 0, asymmetric: 0, unanswered: 0, reset: 0, pending: 0 }, paths: {}, ingressPackets: {}, retransmittedSyns: 0 };
        t.ingressPackets = { ...(this.ingressPackets.get(vip) ?? {}) };
        res.set(vip, t);
      }
      return t;
    };
    for (const vip of this.closed.keys()) get(vip);
    for (const vip of this.ingressPackets.keys()) get(vip);
    for (const slot of this.index.values()) {
      const v = this.view(slot, now);
      this.addTo(get(v.vip), v);
    }
    return res;
  }

  /** Client addresses seen sending to each VIP (at most 64 per VIP), for the static check. */
  observedClients(): Map<string, string[]> {
    return new Map([...this.clients].map(([vip, s]) => [vip, [...s]]));
  }
}
