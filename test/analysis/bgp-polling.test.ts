// How often the BGP monitor runs ss: every poll period while a peer is known, once a minute while none is (most
// nodes have no BGP); a router this node dials (seen by the capture), or one Kubernetes comes to expect, counts from
// the next period on. The ss runs are real.

import { afterEach, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { BgpMonitor } from '../../agent/bgp/bgp-monitor.js';
import type { PacketSummary } from '../../agent/decoders/packet.js';
import { TCP_SYN } from '../../agent/decoders/transport.js';
import { summary } from '../helpers/packet-summary.js';
import { until } from '../helpers/wait.js';

const monitors: BgpMonitor[] = [];
afterEach(async () => {
  await Promise.all(monitors.splice(0).map((m) => m.stop()));
});

function monitor(peers: string[], expected?: () => Map<string, string>): BgpMonitor {
  const m = new BgpMonitor({
    peers,
    pollMs: 100,
    idlePollMs: 60_000,
    expected,
    log: () => undefined,
    registry: new Registry(),
    changed: () => undefined,
  });
  monitors.push(m);
  return m;
}

function syn(outgoing: boolean, src: string, dst: string): PacketSummary {
  return summary({
    ifindex: 2,
    direction: outgoing ? 'outgoing' : 'host',
    family: 4,
    src,
    dst,
    proto: 6,
    sport: outgoing ? 40000 : 179,
    dport: outgoing ? 179 : 40000,
    tcpFlags: TCP_SYN,
    tcpSeq: 0,
    tcpAck: 0,
  });
}

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('BGP polling', () => {
  it('polls every period while a peer is configured', { timeout: 20_000 }, async () => {
    const m = monitor(['192.0.2.1']);
    await m.start();
    await until(() => m.polls >= 4, 'four ss runs at a 100 ms period', 10_000);
  });

  it('polls every period once Kubernetes expects a peer, also one that appears after the start', { timeout: 20_000 }, async () => {
    let expected = new Map<string, string>();
    const m = monitor([], () => expected);
    await m.start();
    await settle(500);
    expect(m.polls, 'no peer yet: idle').toBe(1);
    expected = new Map([['192.0.2.1', 'BGPPeer metallb-system/router']]);
    await until(() => m.polls >= 4, 'four ss runs at a 100 ms period', 10_000);
  });

  it(
    'idles with no peer, ignores SYNs from strangers, and polls every period from the moment this node dials a router',
    { timeout: 20_000 },
    async () => {
      const m = monitor([]);
      await m.start();
      expect(m.polls).toBe(1);
      // Ten poll periods with no peer: no run. (A negative claim: a fixed wait is the only way to observe it.)
      await settle(1000);
      expect(m.polls).toBe(1);
      for (let i = 0; i < 100; i++) m.tap.tap.observe(syn(false, `198.51.100.${i}`, '192.0.2.10'), Date.now());
      await settle(500);
      expect(m.polls, 'SYNs to our port 179 from unknown sources wake nothing').toBe(1);
      m.tap.tap.observe(syn(true, '192.0.2.10', '192.0.2.1'), Date.now());
      await until(() => m.polls >= 2, 'a run within a period of our own SYN to a router', 5_000);
      await until(() => m.polls >= 4, 'then a run every period: the router is a known peer', 10_000);
    },
  );
});
