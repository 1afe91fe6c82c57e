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

/**
 * symmetric / asymmetric: answered, the first reply (RST and ICMP errors included) on the request's interface or on
 * another; reset: a symmetric flow with a TCP RST; unanswered: a TCP SYN with no reply within answerMs; no-reply: any
 * other request with no reply within answerMs (UDP, ICMP, TCP segments of a connection older than the capture), which
 * raises no finding: a single spoofed or stray datagram must not; pending: not yet decided, or replies only (and TCP
 * segments without a reply when the capture thins TCP data: the reply may simply not have been kept).
 */
export type FlowOutcome = 'symmetric' | 'asymmetric' | 'unanswered' | 'no-reply' | 'reset' | 'pending';
export const FLOW_OUTCOMES: FlowOutcome[] = ['symmetric', 'asymmetric', 'unanswered', 'no-reply', 'reset', 'pending'];

/** Why a packet did not join a flow: bounded enum, usable as a metric label. */
export type PacketSkip =
  'not-ip' | 'not-vip' | 'no-interface' | 'no-ports' | 'outgoing-request' | 'incoming-reply' | 'too-many-services' | 'icmp-error-unmatched';

/** Observed clients: at most this many per VIP and in all, each forgotten this long after its last handshake. */
export const MAX_CLIENTS_PER_VIP = 64;
export const MAX_CLIENTS = 1024;
export const CLIENT_TTL_MS = 10 * 60_000;

export interface FlowMatcherOptions {
  vips: string[];
  capacity?: number;
  /** ms without packets after which a flow is closed */
  idleMs?: number;
  /** ms a request may wait for its reply before it counts as unanswered */
  answerMs?: number;
  ifname?: (ifindex: number) => string | null;
  /**
   * The capture keeps only some TCP data segments of a flow (captureDataSampleBits): a connection older than the
   * capture whose replies were not kept yet stays pending instead of counting as no-reply.
   */
  tcpDataThinned?: boolean;
  /**
   * Which clients count as observed. 'handshake' (live, the default): only those that acknowledge the VIP's SYN-ACK,
   * which a spoofed source cannot. 'answered' (a capture file the operator chose to analyze): any client whose
   * request got a reply, so the client of an asymmetric flow, who never completes its handshake, is asked about too.
   */
  clients?: 'handshake' | 'answered';
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
  /** answered by an ICMP destination unreachable from the VIP */
  icmpError: boolean;
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
/** the client acknowledged the VIP's SYN-ACK: it received it, so its address is no spoofed one */
const F_VERIFIED = 4;
/** answered by an ICMP destination-unreachable error */
const F_ICMP = 8;
const MAX_SERVICES = 65535;
const MAX_IFACES = 4096;

function v4Text(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
}

/** Tallies by service id, integer keys only (small integers: no allocation per flow counted). */
interface ServiceTallies {
  /** service id * OUTCOME_SLOTS + outcome index -> flows */
  outcomes: Map<number, number>;
  retransmittedSyns: Map<number, number>;
  /** service id -> ingress id * MAX_IFACES + egress id -> flows */
  paths: Map<number, Map<number, number>>;
}

const OUTCOME_SLOTS = 8;
const OUTCOME_INDEX = Object.fromEntries(FLOW_OUTCOMES.map((o, i) => [o, i])) as Record<FlowOutcome, number>;

function serviceTallies(): ServiceTallies {
  return { outcomes: new Map(), retransmittedSyns: new Map(), paths: new Map() };
}

function emptyTally(): VipTally {
  return {
    outcomes: { symmetric: 0, asymmetric: 0, unanswered: 0, 'no-reply': 0, reset: 0, pending: 0 },
    paths: {},
    ingressPackets: {},
    retransmittedSyns: 0,
  };
}

export class FlowMatcher implements V4PacketSink {
  readonly capacity: number;
  private readonly idleMs: number;
  private readonly answerMs: number;
  private readonly tcpDataThinned: boolean;
  private readonly ifname: (i: number) => string | null;
  private readonly clientsAnswered: boolean;
  // VIPs: IPv4 as numbers (index = position), IPv6 as canonical text
  // Stryker disable next-line ArrayDeclaration: an extra non-number element shifts list and index map alike; it never matches
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
  // Stryker disable next-line UnaryOperator: read only after lastSvcKey matched, which sets it first
  private lastSvcId = -1;
  // Stryker disable next-line UnaryOperator: with nothing pending, a first key equal to it adds 1 to 0, as a flush would
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
    'icmp-error-unmatched': 0,
  };
  private readonly closed = serviceTallies();
  // VIP -> client -> last handshake (capture clock), oldest first in each map
  private readonly clients = new Map<string, Map<string, number>>();
  private clientCount = 0;

  constructor(opts: FlowMatcherOptions) {
    this.capacity = opts.capacity ?? 1_000_000;
    this.idleMs = opts.idleMs ?? 120_000;
    this.answerMs = opts.answerMs ?? 3_000;
    this.tcpDataThinned = opts.tcpDataThinned === true;
    // Stryker disable next-line ArrowFunction: an ifname answering undefined gets the same if<index> fallback in ifaceId
    this.ifname = opts.ifname ?? ((i) => `if${i}`);
    this.clientsAnswered = opts.clients === 'answered';
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

  /** Slots allocated now (at most capacity): the table's memory is about 44 bytes times this. */
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
    // Stryker disable next-line ConditionalExpression,EqualityOperator,BlockStatement: list scan and Map answer alike
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
      // Stryker disable next-line ConditionalExpression,EqualityOperator: a cache; services are never freed, a refusal stays one
      if (id >= 0) this.svc4.set(k, id);
    }
    // Stryker disable next-line ConditionalExpression,EqualityOperator,BlockStatement: a cache, as above
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
    if (p.icmpQuote && p.direction === 'outgoing') return this.observeIcmpError(p, ts);
    if (p.family === 4)
      return this.observeV4(
        p.src4!,
        p.dst4!,
        p.proto!,
        p.sport,
        p.dport,
        p.tcpFlags ?? 0,
        p.ifindex,
        p.direction === 'outgoing',
        ts,
        p.tcpSeq ?? 0,
        p.tcpAck ?? 0,
      );
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
    const slot = this.t.find6(svc, key) ?? this.t.add6(svc, key, ts);
    this.update(slot, isRequest, svc, p.tcpFlags ?? 0, p.ifindex!, ts, p.tcpSeq ?? 0, p.tcpAck ?? 0);
    return null;
  }

  // An ICMP error the VIP sends is the reply of the flow whose request it quotes (quoted source: the client, quoted
  // destination: the VIP). It only answers a flow already open: it names no flow of its own.
  private observeIcmpError(p: PacketSummary, ts: number): PacketSkip | null {
    const q = p.icmpQuote!;
    if (p.ifindex === null) return this.skip('no-interface');
    let slot: number | undefined;
    let svc: number;
    if (q.family === 4) {
      const vi = this.vipIndex4(q.dst4!);
      if (vi < 0) return this.skip('not-vip');
      svc = this.service4(vi, q.proto, q.dport);
      if (svc < 0) return this.skip('too-many-services');
      const s = this.t.find4(svc, q.src4!, q.sport);
      slot = s < 0 ? undefined : s;
    } else {
      if (!this.vip6.has(q.dst)) return this.skip('not-vip');
      svc = this.service(q.proto, q.dst, q.dport);
      if (svc < 0) return this.skip('too-many-services');
      slot = this.t.find6(svc, `${q.src}|${q.sport}`);
    }
    if (slot === undefined) return this.skip('icmp-error-unmatched');
    this.update(slot, false, svc, 0, p.ifindex, ts, 0, 0);
    this.t.flags[slot]! |= F_ICMP;
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
    seq = 0,
    ack = 0,
  ): PacketSkip | null {
    const di = this.vipIndex4(dst);
    // Stryker disable next-line UnaryOperator: si is not read for a request (di >= 0 and not outgoing)
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
    if (slot < 0) slot = this.t.add4(svc, client, cport, ts);
    this.update(slot, isRequest, svc, tcpFlags, ifindex!, ts, seq, ack);
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

  private update(
    slot: number,
    isRequest: boolean,
    svc: number,
    tcpFlags: number,
    ifindex: number,
    ts: number,
    seq: number,
    ack: number,
  ): void {
    const iface = this.ifaceId(ifindex);
    const t = this.t;
    t.last[slot] = ts;
    if (isRequest) {
      t.pin[slot]!++;
      if (t.ingress[slot] === 0) t.ingress[slot] = iface;
      if ((tcpFlags & (TCP_SYN | TCP_ACK)) === TCP_SYN && t.syns[slot]! < 0xffff) t.syns[slot]!++;
      if (tcpFlags & TCP_RST) t.flags[slot]! |= F_RST;
      // Only a client that acknowledges the VIP's own SYN-ACK has received it: a spoofed source never enters the
      // observed clients, whatever it sends (a blind guess of the 32-bit sequence number aside).
      if (
        (t.flags[slot]! & (F_SYNACK | F_VERIFIED)) === F_SYNACK &&
        (tcpFlags & (TCP_SYN | TCP_ACK | TCP_RST)) === TCP_ACK &&
        ack === (t.isn[slot]! + 1) >>> 0
      ) {
        t.flags[slot]! |= F_VERIFIED;
        this.noteClient(this.svcVip[svc]!, this.clientText(slot), ts);
      }
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
      if (this.clientsAnswered && t.pin[slot]! > 0 && !(t.flags[slot]! & F_VERIFIED)) {
        t.flags[slot]! |= F_VERIFIED;
        this.noteClient(this.svcVip[svc]!, this.clientText(slot), ts);
      }
      if ((tcpFlags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK)) {
        t.flags[slot]! |= F_SYNACK;
        t.isn[slot] = seq;
      } else if (
        // The VIP sends data, a pure ACK or a FIN only once established, i.e. once the client acknowledged its
        // SYN-ACK: a spoofed source gets SYN-ACK retransmissions and RSTs only. Its FIN is never thinned away, so
        // this still verifies a client when the capture keeps few of the handshake's ACKs (captureDataSampleBits).
        !this.clientsAnswered &&
        (t.flags[slot]! & (F_SYNACK | F_VERIFIED)) === F_SYNACK &&
        (tcpFlags & (TCP_SYN | TCP_ACK | TCP_RST)) === TCP_ACK
      ) {
        t.flags[slot]! |= F_VERIFIED;
        this.noteClient(this.svcVip[svc]!, this.clientText(slot), ts);
      }
      if (tcpFlags & TCP_RST) t.flags[slot]! |= F_RST;
    }
  }

  private clientText(slot: number): string {
    const k6 = this.t.key6(slot);
    return k6 !== undefined ? k6.slice(0, k6.lastIndexOf('|')) : v4Text(this.t.client4[slot]!);
  }

  private flushIngress(): void {
    if (this.ingPending > 0) this.ingressCount.set(this.ingKey, (this.ingressCount.get(this.ingKey) ?? 0) + this.ingPending);
    this.ingPending = 0;
  }

  // Most recently verified last; a full VIP forgets its oldest client, a full table the oldest of all VIPs' oldest.
  private noteClient(vip: string, client: string, ts: number): void {
    let cs = this.clients.get(vip);
    if (!cs) this.clients.set(vip, (cs = new Map()));
    if (cs.delete(client)) this.clientCount--;
    else if (cs.size >= MAX_CLIENTS_PER_VIP) this.forgetOldest(cs);
    else if (this.clientCount >= MAX_CLIENTS) {
      let oldest: string | null = null;
      let at = Infinity;
      for (const [v, m] of this.clients) {
        const first = m.values().next();
        if (!first.done && first.value < at) [oldest, at] = [v, first.value];
      }
      const om = oldest === null ? undefined : this.clients.get(oldest);
      if (om) {
        this.forgetOldest(om);
        if (om.size === 0 && om !== cs) this.clients.delete(oldest!);
      }
    }
    cs.set(client, ts);
    this.clientCount++;
  }

  private forgetOldest(m: Map<string, number>): void {
    const k = m.keys().next();
    if (!k.done) {
      m.delete(k.value);
      this.clientCount--;
    }
  }

  // Clients whose last handshake is older than CLIENT_TTL_MS are dropped (each map is oldest first).
  private ageClients(now: number): void {
    for (const [vip, m] of this.clients) {
      for (const [c, at] of m) {
        if (now - at <= CLIENT_TTL_MS) break;
        m.delete(c);
        this.clientCount--;
      }
      if (m.size === 0) this.clients.delete(vip);
    }
  }

  private outcomeOf(slot: number, now: number): FlowOutcome {
    const t = this.t;
    if (t.pout[slot] === 0) {
      if (t.flags[slot]! & F_RST) return 'reset';
      if (now - t.first[slot]! < this.answerMs) return 'pending';
      const tcp = this.svcProto[t.svc[slot]!] === 6;
      if (tcp && t.syns[slot]! > 0) return 'unanswered';
      return tcp && this.tcpDataThinned ? 'pending' : 'no-reply';
    }
    if (t.pin[slot] === 0) return 'pending';
    // Any reply, a RST or an ICMP error too, that leaves elsewhere is asymmetric: the client never gets it.
    if (t.ingress[slot] !== t.egress[slot]) return 'asymmetric';
    return t.flags[slot]! & F_RST ? 'reset' : 'symmetric';
  }

  private view(slot: number, now: number): FlowView {
    const svc = this.t.svc[slot]!;
    const k6 = this.t.key6(slot);
    const name = (id: number) => (id === 0 ? null : this.ifaces[id - 1]!);
    return {
      vip: this.svcVip[svc]!,
      vport: this.svcPort[svc]!,
      client: this.clientText(slot),
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
      icmpError: (this.t.flags[slot]! & F_ICMP) !== 0,
      outcome: this.outcomeOf(slot, now),
    };
  }

  // Counts a flow into per-service integer tallies: no string or object per flow, whatever the table holds.
  private addTo(a: ServiceTallies, slot: number, now: number): void {
    const t = this.t;
    const svc = t.svc[slot]!;
    const ok = svc * OUTCOME_SLOTS + OUTCOME_INDEX[this.outcomeOf(slot, now)];
    a.outcomes.set(ok, (a.outcomes.get(ok) ?? 0) + 1);
    const syns = t.syns[slot]!;
    if (syns > 1) a.retransmittedSyns.set(svc, (a.retransmittedSyns.get(svc) ?? 0) + syns - 1);
    let paths = a.paths.get(svc);
    if (!paths) a.paths.set(svc, (paths = new Map()));
    const pk = t.ingress[slot]! * MAX_IFACES + t.egress[slot]!;
    paths.set(pk, (paths.get(pk) ?? 0) + 1);
  }

  // Folds per-service tallies into per-VIP ones: strings once per service and path, not per flow.
  private foldInto(a: ServiceTallies, get: (vip: string) => VipTally): void {
    for (const [k, n] of a.outcomes) get(this.svcVip[Math.floor(k / OUTCOME_SLOTS)]!).outcomes[FLOW_OUTCOMES[k % OUTCOME_SLOTS]!] += n;
    for (const [svc, n] of a.retransmittedSyns) get(this.svcVip[svc]!).retransmittedSyns += n;
    for (const [svc, paths] of a.paths) {
      const t = get(this.svcVip[svc]!);
      for (const [pk, n] of paths) {
        const i = Math.floor(pk / MAX_IFACES);
        const e = pk % MAX_IFACES;
        const k = `${i ? this.ifaces[i - 1] : '?'}>${e ? this.ifaces[e - 1] : '-'}`;
        t.paths[k] = (t.paths[k] ?? 0) + n;
      }
    }
  }

  // The table is about to free a flow (evicted, expired): its outcome and path join the closed tally.
  private tallyClosed(slot: number, now: number): void {
    this.addTo(this.closed, slot, now);
  }

  /** Closes flows idle for longer than idleMs and forgets clients not seen for CLIENT_TTL_MS (call periodically with the capture clock). */
  expire(now: number): number {
    this.ageClients(now);
    return this.t.expireIdle(now, this.idleMs);
  }

  /**
   * Open flows, most recent first (ties in slot order), optionally filtered. With a limit, a bounded heap of slot
   * numbers keeps the k most recent: O(table * log k) time, O(k) memory, a view made only for the flows returned.
   */
  flows(now: number, filter: { vip?: string; outcome?: FlowOutcome; limit?: number } = {}): FlowView[] {
    const t = this.t;
    const limit = filter.limit && filter.limit > 0 ? filter.limit : Infinity;
    // a comes before b in the answer
    const before = (a: number, b: number) => t.last[a]! > t.last[b]! || (t.last[a] === t.last[b] && a < b);
    // heap[0] is the kept flow that comes last: a newcomer that comes before it takes its place
    const heap: number[] = [];
    const down = (i: number) => {
      for (;;) {
        const l = 2 * i + 1;
        if (l >= heap.length) return;
        const c = l + 1 < heap.length && before(heap[l]!, heap[l + 1]!) ? l + 1 : l;
        if (!before(heap[i]!, heap[c]!)) return;
        [heap[i], heap[c]] = [heap[c]!, heap[i]!];
        i = c;
      }
    };
    for (let s = 0; s < t.end; s++) {
      if (!t.used[s]) continue;
      if (filter.vip && this.svcVip[t.svc[s]!] !== filter.vip) continue;
      if (filter.outcome && this.outcomeOf(s, now) !== filter.outcome) continue;
      if (heap.length < limit) {
        let i = heap.length;
        heap.push(s);
        while (i > 0) {
          const p = (i - 1) >> 1;
          if (!before(heap[p]!, heap[i]!)) break;
          [heap[p], heap[i]] = [heap[i]!, heap[p]!];
          i = p;
        }
      } else if (before(s, heap[0]!)) {
        heap[0] = s;
        down(0);
      }
    }
    heap.sort((a, b) => (before(a, b) ? -1 : 1));
    return heap.map((s) => this.view(s, now));
  }

  private openTallies(now: number): ServiceTallies {
    const a = serviceTallies();
    for (let s = 0; s < this.t.end; s++) if (this.t.used[s]) this.addTo(a, s, now);
    return a;
  }

  /** Closed plus open flows, per VIP. */
  tally(now: number): Map<string, VipTally> {
    const res = new Map<string, VipTally>();
    const get = (vip: string) => {
      let t = res.get(vip);
      if (!t) res.set(vip, (t = emptyTally()));
      return t;
    };
    this.foldInto(this.closed, get);
    this.flushIngress();
    for (const [k, n] of this.ingressCount) {
      const t = get(this.svcVip[Math.floor(k / MAX_IFACES)]!);
      const i = k % MAX_IFACES;
      const name = i ? this.ifaces[i - 1]! : '?';
      t.ingressPackets[name] = (t.ingressPackets[name] ?? 0) + n;
    }
    this.foldInto(this.openTallies(now), get);
    return res;
  }

  /** Only the flows still open (not yet expired): the recent picture, which clears after a fix. */
  openTally(now: number): Map<string, VipTally> {
    const res = new Map<string, VipTally>();
    this.foldInto(this.openTallies(now), (vip) => {
      let t = res.get(vip);
      if (!t) res.set(vip, (t = emptyTally()));
      return t;
    });
    return res;
  }

  /**
   * Clients that completed a TCP handshake with each VIP, for the static check (at most MAX_CLIENTS_PER_VIP per VIP,
   * MAX_CLIENTS in all). With `now`, those whose last handshake is older than CLIENT_TTL_MS are dropped first.
   */
  observedClients(now?: number): Map<string, string[]> {
    if (now !== undefined) this.ageClients(now);
    return new Map([...this.clients].map(([vip, s]) => [vip, [...s.keys()]]));
  }

  /** The `max` distinct clients of any VIP with the latest handshakes, newest first (aged at `now`). */
  recentClients(now: number, max: number): string[] {
    this.ageClients(now);
    const latest = new Map<string, number>();
    for (const m of this.clients.values()) for (const [c, at] of m) if ((latest.get(c) ?? -Infinity) < at) latest.set(c, at);
    return [...latest]
      .sort((a, b) => b[1] - a[1])
      .slice(0, max)
      .map(([c]) => c);
  }
}
