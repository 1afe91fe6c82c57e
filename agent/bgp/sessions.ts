// BGP session health without talking BGP: TCP sessions on port 179 from `ss` polls, and connection attempts from the
// capture (SYNs to or from port 179 and what answered them). Pure: sockets and packets in, peer states and findings out.
//
// A session is "up" when an established TCP connection to the peer's or our port 179 is seen in two polls in a row:
// a router that does not list this node as a neighbour accepts the TCP connection and resets it milliseconds after
// the OPEN (measured with BIRD 2), so a single poll may catch a session that never was one.

import type { PacketSummary } from '../decoders/packet.js';
import { TCP_ACK, TCP_RST, TCP_SYN } from '../decoders/transport.js';
import type { SsSocket } from './ss-parse.js';
import { finding, type Finding } from '../findings/registry.js';

export const BGP_PORT = 179;

/** How a connection attempt to a peer ended, as seen on the wire. */
export type AttemptOutcome = 'reset-after-handshake' | 'refused' | 'unanswered' | 'established';

export interface PeerState {
  peer: string;
  /** from configuration or Kubernetes (MetalLB BGPPeer), rather than only observed */
  expected: boolean;
  /** who expects it: "--bgp-peer" or "MetalLB BGPPeer ns/name" */
  expectedBy: string | null;
  up: boolean;
  /** ms timestamp of the last change between up and down (first poll for a new peer) */
  since: number;
  /** TCP state seen in the last poll, or null when there was no socket */
  tcpState: string | null;
  /** attempts in the window, by outcome */
  attempts: Record<AttemptOutcome, number>;
}

interface Attempt {
  /** "peer lport rport" of the connection */
  key: string;
  peer: string;
  t: number;
  synAck: boolean;
  rst: boolean;
  established: boolean;
}

const MAX_ATTEMPTS = 256;
/** Peers neither configured nor expected by MetalLB, that this node dials or has an established session with. */
export const MAX_OBSERVED_PEERS = 64;
/** Sources of SYNs or half-open sockets on port 179 that are no known peer, kept for the aggregate only. */
export const MAX_UNEXPECTED_SOURCES = 64;
const noAttempts = (): Record<AttemptOutcome, number> => ({ 'reset-after-handshake': 0, refused: 0, unanswered: 0, established: 0 });

export class BgpTracker {
  private readonly peers = new Map<string, PeerState>();
  private estabLastPoll = new Set<string>();
  private attempts: Attempt[] = [];
  /** resets received from each peer since start, for metrics */
  readonly resets = new Map<string, number>();
  /** called at each reset received, where the metric counts it */
  onReset: ((peer: string) => void) | null = null;
  /**
   * Anyone can send a SYN to port 179 from any source: such sources get no peer state, series or finding of their
   * own, only this bounded table (source -> last seen, oldest first: the oldest is evicted when full, and sources
   * not seen for the window are pruned) and a counter.
   */
  readonly unexpectedSources = new Map<string, number>();
  unexpectedSyns = 0;
  /** called at each SYN or half-open socket from a source that is no known peer */
  onUnexpected: (() => void) | null = null;
  /** called when an observed peer is evicted, so its per-peer series go too */
  onForget: ((peer: string) => void) | null = null;

  private expectedPeers = new Map<string, string>();

  constructor(
    configured: string[],
    now: number,
    private readonly windowMs = 60_000,
  ) {
    this.setExpected(new Map(configured.map((p) => [p, '--bgp-peer'])), now);
  }

  /** peer -> who expects it; peers no longer expected stay known as observed ones. */
  setExpected(peers: Map<string, string>, now: number): void {
    this.expectedPeers = peers;
    for (const s of this.peers.values()) {
      s.expected = peers.has(s.peer);
      s.expectedBy = peers.get(s.peer) ?? null;
    }
    for (const p of peers.keys()) this.peer(p, now);
  }

  private noteUnexpected(ip: string, now: number): void {
    this.unexpectedSyns++;
    this.onUnexpected?.();
    this.unexpectedSources.delete(ip);
    this.pruneUnexpected(now);
    if (this.unexpectedSources.size >= MAX_UNEXPECTED_SOURCES) this.unexpectedSources.delete(this.unexpectedSources.keys().next().value!);
    this.unexpectedSources.set(ip, now);
  }

  // Oldest first: stops at the first source seen within the window.
  private pruneUnexpected(now: number): void {
    for (const [ip, at] of this.unexpectedSources) {
      if (now - at <= this.windowMs) return;
      this.unexpectedSources.delete(ip);
    }
  }

  private known(ip: string): boolean {
    return this.peers.has(ip) || this.expectedPeers.has(ip);
  }

  // A new observed peer beyond the cap replaces the one down the longest (expected peers are never evicted).
  private makeRoom(): void {
    const observed = [...this.peers.values()].filter((p) => !p.expected);
    if (observed.length < MAX_OBSERVED_PEERS) return;
    const victim = observed.sort((a, b) => Number(a.up) - Number(b.up) || a.since - b.since)[0]!;
    this.peers.delete(victim.peer);
    this.resets.delete(victim.peer);
    this.onForget?.(victim.peer);
  }

  private peer(ip: string, now: number): PeerState {
    let s = this.peers.get(ip);
    if (!s) {
      if (!this.expectedPeers.has(ip)) this.makeRoom();
      s = {
        peer: ip,
        expected: this.expectedPeers.has(ip),
        expectedBy: this.expectedPeers.get(ip) ?? null,
        up: false,
        since: now,
        tcpState: null,
        attempts: noAttempts(),
      };
      this.peers.set(ip, s);
    }
    return s;
  }

  /** One `ss` poll: every TCP socket with port 179 on either side (listeners ignored). */
  poll(sockets: SsSocket[], now: number): void {
    const estab = new Set<string>();
    const stateOf = new Map<string, string>();
    for (const k of sockets) {
      if (k.state === 'LISTEN' || !k.peerIp || (k.localPort !== BGP_PORT && k.peerPort !== BGP_PORT)) continue;
      // A half-open socket from an unknown source (SYN-RECV under a SYN flood) makes no peer.
      if (k.state !== 'ESTAB' && !this.known(k.peerIp)) {
        this.noteUnexpected(k.peerIp, now);
        continue;
      }
      this.peer(k.peerIp, now);
      if (k.state === 'ESTAB') estab.add(k.peerIp);
      // The most advanced state wins when several sockets go to one peer (BGP connection collision).
      if (k.state === 'ESTAB' || !stateOf.has(k.peerIp)) stateOf.set(k.peerIp, k.state);
    }
    for (const s of this.peers.values()) {
      const up = estab.has(s.peer) && this.estabLastPoll.has(s.peer);
      if (up !== s.up) {
        s.up = up;
        s.since = now;
      }
      s.tcpState = stateOf.get(s.peer) ?? null;
    }
    this.estabLastPoll = estab;
  }

  /** peers known: expected ones, and those seen with a session or an attempt of this node's */
  get peerCount(): number {
    return this.peers.size;
  }

  /** A captured TCP packet with port 179 on either side; other packets are ignored. */
  observe(d: PacketSummary, ts: number): void {
    if (d.proto !== 6 || d.tcpFlags === null || !d.src || !d.dst || (d.sport !== BGP_PORT && d.dport !== BGP_PORT)) return;
    const outgoing = d.direction === 'outgoing';
    const peer = outgoing ? d.dst : d.src;
    const [lport, rport] = outgoing ? [d.sport, d.dport] : [d.dport, d.sport];
    const key = `${peer} ${lport} ${rport}`;
    const f = d.tcpFlags;
    const syn = (f & TCP_SYN) !== 0;
    const ack = (f & TCP_ACK) !== 0;
    if (syn && !ack) {
      // Only our own connection attempts (we SYN to the peer's 179) and a known peer's attempts to our 179 start one.
      if (!outgoing && !this.known(peer)) {
        this.noteUnexpected(peer, ts);
        return;
      }
      if (this.attempts.length >= MAX_ATTEMPTS) this.attempts.shift();
      const existing = this.attempts.find((a) => a.key === key && ts - a.t < 3000);
      if (!existing) this.attempts.push({ key, peer, t: ts, synAck: false, rst: false, established: false });
      this.peer(peer, ts);
      return;
    }
    const a = this.findAttempt(key);
    if (!a) return;
    if (syn && ack) a.synAck = true;
    else if ((f & TCP_RST) !== 0) {
      if (!outgoing && this.peers.has(peer)) {
        a.rst = true;
        this.resets.set(peer, (this.resets.get(peer) ?? 0) + 1);
        this.onReset?.(peer);
      }
    } else if (a.synAck && !a.rst) a.established = true;
  }

  private findAttempt(key: string): Attempt | undefined {
    for (let i = this.attempts.length - 1; i >= 0; i--) if (this.attempts[i]!.key === key) return this.attempts[i];
    return undefined;
  }

  view(now: number): PeerState[] {
    const from = now - this.windowMs;
    this.pruneUnexpected(now);
    this.attempts = this.attempts.filter((a) => a.t >= from);
    for (const s of this.peers.values()) s.attempts = noAttempts();
    for (const a of this.attempts) {
      const s = this.peers.get(a.peer);
      if (!s) continue;
      // A SYN younger than 3 s may still be answered.
      const outcome: AttemptOutcome | null = a.rst
        ? a.synAck
          ? 'reset-after-handshake'
          : 'refused'
        : a.synAck
          ? a.established
            ? 'established'
            : null
          : now - a.t > 3000
            ? 'unanswered'
            : null;
      if (outcome) s.attempts[outcome]++;
    }
    return [...this.peers.values()].sort((x, y) => x.peer.localeCompare(y.peer));
  }
}

function attemptsText(a: Record<AttemptOutcome, number>): string | null {
  if (a['reset-after-handshake'] > 0)
    return `${a['reset-after-handshake']} connections to it were reset right after the TCP handshake: the peer does not accept this node as a BGP neighbour (is this node's address configured as a neighbour on the router?)`;
  if (a.refused > 0)
    return `${a.refused} connection attempts were refused (RST to the SYN): nothing listens on the peer's port 179, or a firewall rejects them`;
  if (a.unanswered > 0) return `${a.unanswered} connection attempts got no answer: the peer is unreachable, or a firewall drops port 179`;
  return null;
}

/** bgp-session-down for peers that should be up: expected ones, and observed ones that are being dialled. */
export function bgpFindings(peers: PeerState[]): Finding[] {
  const out: Finding[] = [];
  for (const s of peers) {
    if (s.up) continue;
    const tried = s.attempts['reset-after-handshake'] + s.attempts.refused + s.attempts.unanswered;
    if (!s.expected && tried === 0) continue;
    const why = attemptsText(s.attempts);
    const tcp = s.tcpState ? `TCP ${s.tcpState}` : 'no TCP connection on port 179';
    out.push(
      finding('bgp-session-down', {
        vip: null,
        summary: `BGP session with ${s.peer}${s.expectedBy?.startsWith('MetalLB') ? ` (${s.expectedBy})` : ''} is down since ${new Date(s.since).toISOString()} (${tcp})${why ? `: ${why}` : ''}`,
        evidence: [
          `ss: ${tcp}`,
          `capture, last minute: ${Object.entries(s.attempts)
            .map(([k, n]) => `${k} ${n}`)
            .join(', ')}`,
        ],
        remediation: [
          {
            title: 'check both ends of the session',
            commands: [],
            note: `A node that is not a neighbour on the router receives no VIP traffic at all. On the router (${s.peer}): is this node listed as a neighbour, with the right ASN? On the node: the BGP speaker's log (MetalLB: kubectl -n metallb-system logs -l component=speaker).`,
          },
        ],
        peer: s.peer,
      }),
    );
  }
  return out;
}
