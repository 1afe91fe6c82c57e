// Matches requests to VIPs with their replies, per flow: where did the request come in, where did the reply go out?
// Requests: packets to a VIP received on interface X (any direction but OUTGOING). Replies: packets from a VIP
// with direction OUTGOING on interface Y.
//
// The flows live in a FlowTable (flow-table.ts: bounded, growth, eviction, expiry); this module decides what a packet
// is (request, reply, neither), interns services (VIP, port, protocol) and interfaces to small ids, and keeps the
// tallies: outcomes, ingress>egress paths and observed clients, including those of flows already closed.

import type { V4PacketSink } from '../decoders/fast-path.js';
import type { PacketSummary } from '../decoders/packet.js';
import { TCP_ACK, TCP_RST, TCP_SYN } from '../decoders/transport.js';
import { formatIp, parseIp } from '../net/ip.js';
import { FlowTable } from './flow-table.js';

export type FlowOutcome = 'symmetric' | 'asymmetric' | 'unanswered' | 'reset' | 'pending';
export const FLOW_OUTCOMES: FlowOutcome[] = ['symmetric', 'asymmetric', 'unanswered', 'reset', 'pending'];

/** Why a packet did not join a flow: bounded enum, usable as a metric label. */
export type PacketSkip = 'not-ip' | 'not-vip' | 'no-interface' | 'no-ports' | 'outgoing-request' | 'incoming-reply' | 'too-many-services';

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
const MAX_SERVICES = 65535;
const MAX_IFACES = 4096;

function v4Text(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
}

function emptyTally(): VipTally {
  return {
    outcomes: { symmetric: 0, asymmetric: 0, unanswered: 0, reset: 0, pending: 0 },
    paths: {},
    ingressPackets: {},
    retransmittedSyns: 0,
  };
}

export class FlowMatcher implements V4PacketSink {
  readonly capacity: number;
  private readonly idleMs: number;
  private readonly answerMs: number;
  private readonly ifname: (i: number) => string | null;
  // VIPs: IPv4 as numbers (index = position), IPv6 as canonical text
  private readonly vip4List: number[] = [];
  private readonly vip4Index = new Map<number, number>();
  private readonly vip6 = new Set<string>();
  // IPv4 services by number: vip index * 2^24 + proto * 2^16 + port
  private readonly svc4 = new Map<number, number>();
  private readonly t: FlowTable;
  // services (proto, vip, vport) -> id
  private readonly svcIds = new Map<string, number>();
  private readonly svcVip: string[] = [];
  private readonly svcPort: number[] = [];
  private readonly svcProto: number[] = [];
  // interfaces: ifindex -> id, id -> name
  private readonly ifaceByIndex = new Map<number, number>();
  private readonly ifaces: string[] = [];
  private readonly ifaceIds = new Map<string, number>();
  // request packets per service and interface: svc * MAX_IFACES + interface id
  private readonly ingressCount = new Map<number, number>();
  // One-entry caches in front of the per-packet Map lookups: consecutive packets mostly share them (the profile's
  // hot spots in docs/benchmark.md).
  private lastIfindex = -1;
  private lastIfaceId = 0;
  private lastSvcKey = -1;
  private lastSvcId = -1;
  private ingKey = -1;
  private ingPending = 0;

  readonly skipped: Record<PacketSkip, number> = {
    'not-ip': 0,
    'not-vip': 0,
    'no-interface': 0,
    'no-ports': 0,
    'outgoing-request': 0,
    'incoming-reply': 0,
    'too-many-services': 0,
  };
  private readonly closed = new Map<string, VipTally>();
  private readonly clients = new Map<string, Set<string>>();

  constructor(opts: FlowMatcherOptions) {
    this.capacity = opts.capacity ?? 1_000_000;
    this.idleMs = opts.idleMs ?? 120_000;
    this.answerMs = opts.answerMs ?? 3_000;
    this.ifname = opts.ifname ?? ((i) => `if${i}`);
    for (const v of opts.vips) {
      const ip = parseIp(v);
      if (!ip) continue;
      if (ip.family === 4 && !this.vip4Index.has(Number(ip.value))) {
        this.vip4Index.set(Number(ip.value), this.vip4List.length);
        this.vip4List.push(Number(ip.value));
      } else this.vip6.add(formatIp(ip));
    }
    this.t = new FlowTable(this.capacity, (slot, now) => this.tallyClosed(slot, now));
  }

  /** Slots allocated now (at most capacity): the table's memory is about 40 bytes times this. */
  get allocatedSlots(): number {
    return this.t.allocatedSlots;
  }

  /** Flows evicted to make room (the table was full). */
  get evictions(): number {
    return this.t.evictions;
  }

  get size(): number {
    return this.t.size;
  }

  // A short list is faster to scan than a Map lookup with a number that is not a small integer.
  private vipIndex4(addr: number): number {
    const l = this.vip4List;
    if (l.length <= 16) {
      for (let i = 0; i < l.length; i++) if (l[i] === addr) return i;
      return -1;
    }
    return this.vip4Index.get(addr) ?? -1;
  }

  private ifaceId(ifindex: number): number {
    if (ifindex === this.lastIfindex) return this.lastIfaceId;
    let id = this.ifaceByIndex.get(ifindex);
    if (id !== undefined) {
      this.lastIfindex = ifindex;
      this.lastIfaceId = id;
      return id;
    }
    const name = this.ifname(ifindex) ?? `if${ifindex}`;
    id = this.ifaceIds.get(name);
    if (id === undefined) {
      if (this.ifaces.length >= MAX_IFACES - 1) return 0;
      id = this.ifaces.length + 1;
      this.ifaces.push(name);
      this.ifaceIds.set(name, id);
    }
    this.ifaceByIndex.set(ifindex, id);
    return id;
  }

  /** Forget cached index -> name mappings (links changed). */
  refreshInterfaces(): void {
    this.ifaceByIndex.clear();
    this.lastIfindex = -1;
  }

  private service4(vipIdx: number, proto: number, vport: number): number {
    const k = vipIdx * 16777216 + proto * 65536 + vport;
    if (k === this.lastSvcKey) return this.lastSvcId;
    let id = this.svc4.get(k);
    if (id === undefined) {
      id = this.service(proto, v4Text(this.vip4List[vipIdx]!), vport);
      if (id >= 0) this.svc4.set(k, id);
    }
    if (id >= 0) {
      this.lastSvcKey = k;
      this.lastSvcId = id;
    }
    return id;
  }

  private service(proto: number, vip: string, vport: number): number {
    const k = `${proto}|${vip}|${vport}`;
    let id = this.svcIds.get(k);
    if (id === undefined) {
      if (this.svcVip.length >= MAX_SERVICES) return -1;
      id = this.svcVip.length;
      this.svcIds.set(k, id);
      this.svcVip.push(vip);
      this.svcPort.push(vport);
      this.svcProto.push(proto);
    }
    return id;
  }

  private skip(reason: PacketSkip): PacketSkip {
    this.skipped[reason]++;
    return reason;
  }

  /** A decoded packet. Returns null when it joined a flow, else why it did not. */
  observe(p: PacketSummary, ts: number): PacketSkip | null {
    if (p.kind !== 'ip' || p.src === null || p.dst === null) return this.skip('not-ip');
    if (p.family === 4)
      return this.observeV4(p.src4!, p.dst4!, p.proto!, p.sport, p.dport, p.tcpFlags ?? 0, p.ifindex, p.direction === 'outgoing', ts);
    const toVip = this.vip6.has(p.dst);
    const fromVip = this.vip6.has(p.src);
    if (!toVip && !fromVip) return this.skip('not-vip');
    const isRequest = this.requestOrReply(toVip, fromVip, p.proto!, p.sport, p.ifindex, p.direction === 'outgoing');
    if (typeof isRequest === 'string') return isRequest;
    const vport = (isRequest ? p.dport : p.sport) ?? 0;
    const cport = (isRequest ? p.sport : p.dport) ?? 0;
    const vip = isRequest ? p.dst : p.src;
    const svc = this.service(p.proto!, vip, vport);
    if (svc < 0) return this.skip('too-many-services');
    const client = isRequest ? p.src : p.dst;
    const key = `${client}|${cport}`;
    let slot = this.t.find6(svc, key);
    if (slot === undefined) {
      slot = this.t.add6(svc, key, ts);
      if (isRequest) this.noteClient(vip, client);
    }
    this.update(slot, isRequest, svc, p.tcpFlags ?? 0, p.ifindex!, ts);
    return null;
  }

  /** The allocation-free entry for IPv4 (addresses as unsigned 32-bit numbers; ports null when absent). */
  observeV4(
    src: number,
    dst: number,
    proto: number,
    sport: number | null,
    dport: number | null,
    tcpFlags: number,
    ifindex: number | null,
    outgoing: boolean,
    ts: number,
  ): PacketSkip | null {
    const di = this.vipIndex4(dst);
    const si = di >= 0 && !outgoing ? -1 : this.vipIndex4(src);
    if (di < 0 && si < 0) return this.skip('not-vip');
    const isRequest = this.requestOrReply(di >= 0, si >= 0, proto, sport, ifindex, outgoing);
    if (typeof isRequest === 'string') return isRequest;
    const vport = (isRequest ? dport : sport) ?? 0;
    const cport = (isRequest ? sport : dport) ?? 0;
    const svc = this.service4(isRequest ? di : si, proto, vport);
    if (svc < 0) return this.skip('too-many-services');
    const client = isRequest ? src : dst;
    let slot = this.t.find4(svc, client, cport);
    if (slot < 0) {
      slot = this.t.add4(svc, client, cport, ts);
      if (isRequest) this.noteClient(this.svcVip[svc]!, v4Text(client));
    }
    this.update(slot, isRequest, svc, tcpFlags, ifindex!, ts);
    return null;
  }

  /** true: a request; false: a reply; a string: why neither. */
  private requestOrReply(
    toVip: boolean,
    fromVip: boolean,
    proto: number,
    sport: number | null,
    ifindex: number | null,
    outgoing: boolean,
  ): boolean | PacketSkip {
    if (ifindex === null) return this.skip('no-interface');
    // A VIP talking to itself counts as a request on the receiving side.
    const isRequest = toVip && !outgoing;
    if (!isRequest && !(fromVip && outgoing)) return this.skip(toVip ? 'outgoing-request' : 'incoming-reply');
    if (sport === null && proto !== 1 && proto !== 58) return this.skip('no-ports');
    return isRequest;
  }

  private update(slot: number, isRequest: boolean, svc: number, tcpFlags: number, ifindex: number, ts: number): void {
    const iface = this.ifaceId(ifindex);
    const t = this.t;
    t.last[slot] = ts;
    if (isRequest) {
      t.pin[slot]!++;
      if (t.ingress[slot] === 0) t.ingress[slot] = iface;
      if ((tcpFlags & (TCP_SYN | TCP_ACK)) === TCP_SYN && t.syns[slot]! < 0xffff) t.syns[slot]!++;
      if (tcpFlags & TCP_RST) t.flags[slot]! |= F_RST;
      const k = svc * MAX_IFACES + iface;
      if (k === this.ingKey) this.ingPending++;
      else {
        this.flushIngress();
        this.ingKey = k;
        this.ingPending = 1;
      }
    } else {
      t.pout[slot]!++;
      if (t.egress[slot] === 0) t.egress[slot] = iface;
      if ((tcpFlags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK)) t.flags[slot]! |= F_SYNACK;
      if (tcpFlags & TCP_RST) t.flags[slot]! |= F_RST;
    }
  }

  private flushIngress(): void {
    if (this.ingPending > 0) this.ingressCount.set(this.ingKey, (this.ingressCount.get(this.ingKey) ?? 0) + this.ingPending);
    this.ingPending = 0;
  }

  private noteClient(vip: string, client: string): void {
    let cs = this.clients.get(vip);
    if (!cs) this.clients.set(vip, (cs = new Set()));
    if (cs.size < 64) cs.add(client);
  }

  private outcomeOf(slot: number, now: number): FlowOutcome {
    if (this.t.flags[slot]! & F_RST) return 'reset';
    if (this.t.pout[slot] === 0) return now - this.t.first[slot]! >= this.answerMs ? 'unanswered' : 'pending';
    if (this.t.pin[slot] === 0) return 'pending';
    return this.t.ingress[slot] === this.t.egress[slot] ? 'symmetric' : 'asymmetric';
  }

  private view(slot: number, now: number): FlowView {
    const svc = this.t.svc[slot]!;
    const k6 = this.t.key6(slot);
    const name = (id: number) => (id === 0 ? null : this.ifaces[id - 1]!);
    return {
      vip: this.svcVip[svc]!,
      vport: this.svcPort[svc]!,
      client: k6 !== undefined ? k6.slice(0, k6.lastIndexOf('|')) : v4Text(this.t.client4[slot]!),
      cport: k6 !== undefined ? Number(k6.slice(k6.lastIndexOf('|') + 1)) : this.t.cport4[slot]!,
      proto: this.svcProto[svc]!,
      ingress: name(this.t.ingress[slot]!),
      egress: name(this.t.egress[slot]!),
      firstSeen: this.t.first[slot]!,
      lastSeen: this.t.last[slot]!,
      packetsIn: this.t.pin[slot]!,
      packetsOut: this.t.pout[slot]!,
      syns: this.t.syns[slot]!,
      synAck: (this.t.flags[slot]! & F_SYNACK) !== 0,
      reset: (this.t.flags[slot]! & F_RST) !== 0,
      outcome: this.outcomeOf(slot, now),
    };
  }

  private addTo(t: VipTally, slot: number, now: number): void {
    t.outcomes[this.outcomeOf(slot, now)]++;
    const syns = this.t.syns[slot]!;
    if (syns > 1) t.retransmittedSyns += syns - 1;
    const i = this.t.ingress[slot]!;
    const e = this.t.egress[slot]!;
    const k = `${i ? this.ifaces[i - 1] : '?'}>${e ? this.ifaces[e - 1] : '-'}`;
    t.paths[k] = (t.paths[k] ?? 0) + 1;
  }

  // The table is about to free a flow (evicted, expired): its outcome and path join the VIP's closed tally.
  private tallyClosed(slot: number, now: number): void {
    const vip = this.svcVip[this.t.svc[slot]!]!;
    let t = this.closed.get(vip);
    if (!t) this.closed.set(vip, (t = emptyTally()));
    this.addTo(t, slot, now);
  }

  /** Closes flows idle for longer than idleMs (call periodically with the capture clock). */
  expire(now: number): number {
    return this.t.expireIdle(now, this.idleMs);
  }

  /** Open flows, most recent first, optionally filtered. */
  flows(now: number, filter: { vip?: string; outcome?: FlowOutcome; limit?: number } = {}): FlowView[] {
    // Slots first, views only for the ones returned: a view per open flow was most of analyze's garbage.
    const picked: number[] = [];
    const limit = filter.limit && filter.limit > 0 ? filter.limit : Infinity;
    // Most recent first; ties in slot order (the order a stable sort of all flows gives).
    const before = (a: number, b: number) => this.t.last[a]! > this.t.last[b]! || (this.t.last[a] === this.t.last[b] && a < b);
    for (let s = 0; s < this.t.end; s++) {
      if (!this.t.used[s]) continue;
      if (filter.vip && this.svcVip[this.t.svc[s]!] !== filter.vip) continue;
      if (filter.outcome && this.outcomeOf(s, now) !== filter.outcome) continue;
      if (limit === Infinity) {
        picked.push(s);
        continue;
      }
      if (picked.length >= limit) {
        if (!before(s, picked[picked.length - 1]!)) continue;
        picked.pop();
      }
      // Insertion into the sorted prefix: the kept list is short whenever a limit is given.
      let i = picked.length;
      picked.push(s);
      while (i > 0 && before(s, picked[i - 1]!)) {
        picked[i] = picked[i - 1]!;
        i--;
      }
      picked[i] = s;
    }
    if (limit === Infinity) picked.sort((a, b) => (before(a, b) ? -1 : 1));
    return picked.map((s) => this.view(s, now));
  }

  /** Closed plus open flows, per VIP. */
  tally(now: number): Map<string, VipTally> {
    const res = new Map<string, VipTally>();
    const get = (vip: string) => {
      let t = res.get(vip);
      if (!t) {
        const c = this.closed.get(vip) ?? emptyTally();
        t = { outcomes: { ...c.outcomes }, paths: { ...c.paths }, ingressPackets: {}, retransmittedSyns: c.retransmittedSyns };
        res.set(vip, t);
      }
      return t;
    };
    for (const vip of this.closed.keys()) get(vip);
    this.flushIngress();
    for (const [k, n] of this.ingressCount) {
      const t = get(this.svcVip[Math.floor(k / MAX_IFACES)]!);
      const name = this.ifaces[(k % MAX_IFACES) - 1]!;
      t.ingressPackets[name] = (t.ingressPackets[name] ?? 0) + n;
    }
    for (let s = 0; s < this.t.end; s++) if (this.t.used[s]) this.addTo(get(this.svcVip[this.t.svc[s]!]!), s, now);
    return res;
  }

  /** Only the flows still open (not yet expired): the recent picture, which clears after a fix. */
  openTally(now: number): Map<string, VipTally> {
    const res = new Map<string, VipTally>();
    for (let s = 0; s < this.t.end; s++) {
      if (!this.t.used[s]) continue;
      const vip = this.svcVip[this.t.svc[s]!]!;
      let t = res.get(vip);
      if (!t) res.set(vip, (t = emptyTally()));
      this.addTo(t, s, now);
    }
    return res;
  }

  /** Client addresses seen sending to each VIP (at most 64 per VIP), for the static check. */
  observedClients(): Map<string, string[]> {
    return new Map([...this.clients].map(([vip, s]) => [vip, [...s]]));
  }
}
