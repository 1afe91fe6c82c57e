// BGP session state from ss polls and captured port-179 packets.

import { describe, expect, it } from 'vitest';
import { bgpFindings, BgpTracker } from '../../agent/bgp/sessions.js';
import type { PacketDirection } from '../../agent/decoders/link.js';
import type { PacketSummary } from '../../agent/decoders/packet.js';
import { TCP_ACK, TCP_RST, TCP_SYN } from '../../agent/decoders/transport.js';
import type { SsSocket } from '../../agent/bgp/ss-parse.js';

const R = '192.168.1.254';
const N = '192.168.1.10';
const estab: SsSocket = { state: 'ESTAB', localIp: N, localPort: 40265, peerIp: R, peerPort: 179 };
const listen: SsSocket = { state: 'LISTEN', localIp: '0.0.0.0', localPort: 179, peerIp: '0.0.0.0', peerPort: null };

function tcp(out: boolean, flags: number, lport = 40000): PacketSummary {
  const dir: PacketDirection = out ? 'outgoing' : 'host';
  return {
    ok: true,
    ifindex: 2,
    direction: dir,
    srcMac: null,
    kind: 'ip',
    family: 4,
    src: out ? N : R,
    dst: out ? R : N,
    src4: null,
    dst4: null,
    proto: 6,
    sport: out ? lport : 179,
    dport: out ? 179 : lport,
    tcpFlags: flags,
    fragment: false,
    arp: null,
    ndp: null,
  };
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
