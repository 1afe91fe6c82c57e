// BGP session state from ss polls and captured port-179 packets.

import { describe, expect, it } from 'vitest';
import { BGP_PORT, bgpFindings, BgpTracker, MAX_OBSERVED_PEERS, MAX_UNEXPECTED_SOURCES } from '../../agent/bgp/sessions.js';
import type { PacketDirection } from '../../agent/decoders/link.js';
import type { PacketSummary } from '../../agent/decoders/packet.js';
import { TCP_ACK, TCP_RST, TCP_SYN } from '../../agent/decoders/transport.js';
import type { SsSocket } from '../../agent/bgp/ss-parse.js';
import { summary } from '../helpers/packet-summary.js';

const R = '192.168.1.254';
const N = '192.168.1.10';
const estab: SsSocket = { state: 'ESTAB', localIp: N, localPort: 40265, peerIp: R, peerPort: 179 };
const listen: SsSocket = { state: 'LISTEN', localIp: '0.0.0.0', localPort: 179, peerIp: '0.0.0.0', peerPort: null };

function tcp(out: boolean, flags: number, lport = 40000): PacketSummary {
  const dir: PacketDirection = out ? 'outgoing' : 'host';
  return summary({
    ifindex: 2,
    direction: dir,
    family: 4,
    src: out ? N : R,
    dst: out ? R : N,
    proto: 6,
    sport: out ? lport : 179,
    dport: out ? 179 : lport,
    tcpFlags: flags,
    tcpSeq: 0,
    tcpAck: 0,
  });
}

describe('BgpTracker', () => {
  it('is up only after two polls in a row with an established session', () => {
    const t = new BgpTracker([R], 0);
    t.poll([listen, estab], 5000);
    expect(t.view(5000)[0]).toMatchObject({ peer: R, up: false, tcpState: 'ESTAB' });
    t.poll([listen, estab], 10_000);
    expect(t.view(10_000)[0]).toMatchObject({ up: true, since: 10_000 });
    t.poll([listen], 15_000);
    expect(t.view(15_000)[0]).toMatchObject({ up: false, since: 15_000, tcpState: null });
  });

  it.each([
    [
      'reset right after the handshake (not a neighbour)',
      [tcp(true, TCP_SYN), tcp(false, TCP_SYN | TCP_ACK), tcp(true, TCP_ACK), tcp(false, TCP_RST | TCP_ACK)],
      'reset-after-handshake',
      /reset right after the TCP handshake: the peer does not accept this node as a BGP neighbour/,
    ],
    ['refused (nothing listens)', [tcp(true, TCP_SYN), tcp(false, TCP_RST | TCP_ACK)], 'refused', /refused \(RST to the SYN\)/],
    ['unanswered (filtered)', [tcp(true, TCP_SYN)], 'unanswered', /got no answer/],
  ] as Array<[string, PacketSummary[], string, RegExp]>)('a connection attempt %s', (_n, pkts, outcome, text) => {
    const t = new BgpTracker([R], 0);
    pkts.forEach((p, i) => t.observe(p, 1000 + i));
    t.poll([listen], 2000);
    const [s] = t.view(10_000);
    expect(s!.attempts[outcome as 'refused']).toBe(1);
    const f = bgpFindings([s!]);
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ type: 'bgp-session-down', peer: R });
    expect(f[0]!.summary).toMatch(text);
  });

  it('reports a peer it only saw being dialled, and not one that was never expected nor tried', () => {
    const t = new BgpTracker([], 0);
    t.observe(tcp(true, TCP_SYN), 1000);
    t.observe(tcp(false, TCP_RST | TCP_ACK), 1001);
    t.observe({ ...tcp(true, TCP_SYN, 40001), dst: '192.168.1.253' }, 1002);
    t.observe({ ...tcp(false, TCP_SYN | TCP_ACK, 40001), src: '192.168.1.253' }, 1003);
    t.observe({ ...tcp(true, TCP_ACK, 40001), dst: '192.168.1.253' }, 1004);
    t.poll([listen], 2000);
    const f = bgpFindings(t.view(10_000));
    expect(f.map((x) => x.peer)).toEqual([R]);
    expect(t.resets.get(R)).toBe(1);
  });

  it('forgets attempts older than the window, and ignores other ports', () => {
    const t = new BgpTracker([], 0, 60_000);
    t.observe(tcp(true, TCP_SYN), 1000);
    t.observe({ ...tcp(true, TCP_SYN), dport: 443 }, 1000);
    expect(bgpFindings(t.view(10_000))).toHaveLength(1);
    expect(bgpFindings(t.view(70_000))).toHaveLength(0);
  });
});

describe('BGP under a port-179 flood from random sources', () => {
  it('keeps no peer, series or finding per spoofed source: a bounded table and a counter', () => {
    const t = new BgpTracker(['192.168.1.254'], 0);
    let counted = 0;
    t.onUnexpected = () => counted++;
    const n = 60_000;
    for (let i = 0; i < n; i++) {
      const src = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      t.observe({ ...tcp(false, TCP_SYN, 1024 + (i % 60_000)), src, sport: 1024 + (i % 60_000), dport: BGP_PORT }, 1000 + i / 100);
      // The spoofer's RST after its SYN must not count as a peer resetting us either.
      t.observe({ ...tcp(false, TCP_RST, 1024 + (i % 60_000)), src, sport: 1024 + (i % 60_000), dport: BGP_PORT }, 1000 + i / 100);
    }
    // Half-open sockets from unknown sources, as ss lists them under the flood.
    t.poll(
      Array.from({ length: 1000 }, (_, i) => ({
        ...listen,
        state: 'SYN-RECV',
        peerIp: `10.99.${i >> 8}.${i & 255}`,
        peerPort: 40000,
        localPort: BGP_PORT,
      })),
      2000,
    );
    const peers = t.view(3000);
    expect(peers.map((p) => p.peer)).toEqual(['192.168.1.254']);
    expect(counted).toBe(n + 1000);
    expect(t.unexpectedSyns).toBe(n + 1000);
    expect(t.unexpectedSources.size).toBe(MAX_UNEXPECTED_SOURCES);
    expect(t.resets.size).toBe(0);
    // The one finding is the expected peer's.
    expect(bgpFindings(peers).map((f) => f.peer)).toEqual(['192.168.1.254']);
    // Pruned: a minute after the flood stops, no source is remembered; the counter stays.
    t.view(2000 + 60_000);
    expect(t.unexpectedSources.size).toBe(MAX_UNEXPECTED_SOURCES);
    t.view(2001 + 60_000);
    expect(t.unexpectedSources.size).toBe(0);
    expect(t.unexpectedSyns).toBe(n + 1000);
  });

  it('ages unexpected sources one by one: only those seen within the window stay', () => {
    const t = new BgpTracker([], 0, 60_000);
    for (let i = 0; i < 10; i++)
      t.observe({ ...tcp(false, TCP_SYN, 2000 + i), src: `10.1.0.${i}`, sport: 2000 + i, dport: BGP_PORT }, i * 10_000);
    // At 125 s, sources seen at 70 s and later (the last six) are within the minute.
    t.view(125_000);
    expect([...t.unexpectedSources.keys()]).toEqual(['10.1.0.7', '10.1.0.8', '10.1.0.9']);
    // A source seen again moves to the young end.
    t.observe({ ...tcp(false, TCP_SYN, 2007), src: '10.1.0.7', sport: 2007, dport: BGP_PORT }, 126_000);
    expect([...t.unexpectedSources.keys()]).toEqual(['10.1.0.8', '10.1.0.9', '10.1.0.7']);
  });

  it('bounds the peers it dials itself, evicting the one down the longest', () => {
    const t = new BgpTracker([], 0);
    const forgotten: string[] = [];
    t.onForget = (p) => forgotten.push(p);
    for (let i = 0; i < MAX_OBSERVED_PEERS + 20; i++) t.observe({ ...tcp(true, TCP_SYN, 30000 + i), dst: `172.16.0.${i}` }, 1000 + i);
    const peers = t.view(2000);
    expect(peers).toHaveLength(MAX_OBSERVED_PEERS);
    expect(peers.map((p) => p.peer)).toContain(`172.16.0.${MAX_OBSERVED_PEERS + 19}`);
    expect(peers.map((p) => p.peer)).not.toContain('172.16.0.0');
    expect(forgotten).toHaveLength(20);
    expect(forgotten[0]).toBe('172.16.0.0');
  });
});
