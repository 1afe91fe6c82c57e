// The flow matcher on decoded packets: outcomes, paths, retransmitted SYNs, IPv6, capacity, eviction and expiry,
// and its hash table under churn checked against a plain Map model.

import { describe, expect, it } from 'vitest';
import { FlowMatcher } from '../../agent/analysis/flow-matcher.js';
import { decodePacket, type PacketSummary } from '../../agent/decoders/packet.js';
import { LINKTYPE } from '../../agent/decoders/link.js';
import { ipv4Packet, ipv6Packet, sll2, tcpSegment } from '../../bench/frames.js';
import { prng } from '../helpers/root.js';

const VIP = '192.168.1.240';
const NAMES: Record<number, string> = { 2: 'eth0', 3: 'eth1' };
const SYN = 0x02;
const SYNACK = 0x12;
const ACK = 0x10;
const RST = 0x04;

function pkt(req: boolean, client: string, cport: number, flags: number, ifindex: number, vip = VIP): PacketSummary {
  const v6 = vip.includes(':');
  const seg = tcpSegment({ src: '', dst: '', sport: req ? cport : 443, dport: req ? 443 : cport, flags });
  const ip = v6 ? ipv6Packet(req ? client : vip, req ? vip : client, 6, seg) : ipv4Packet(req ? client : vip, req ? vip : client, 6, seg);
  const d = decodePacket(LINKTYPE.LINUX_SLL2, Buffer.from(sll2(v6 ? 0x86dd : 0x0800, ifindex, req ? 'host' : 'outgoing', ip)));
  if (!d.ok) throw new Error('bad test frame');
  return d;
}

const matcher = (o: Partial<ConstructorParameters<typeof FlowMatcher>[0]> = {}) =>
  new FlowMatcher({ vips: [VIP, '2001:db8:1::240'], ifname: (i) => NAMES[i] ?? null, answerMs: 1000, ...o });

describe('FlowMatcher', () => {
  it('classifies flows: symmetric, asymmetric with retransmitted SYN, unanswered, reset, pending', () => {
    const m = matcher();
    m.observe(pkt(true, '203.0.113.1', 1000, SYN, 3), 0);
    m.observe(pkt(false, '203.0.113.1', 1000, SYNACK, 3), 1);
    m.observe(pkt(true, '203.0.113.2', 2000, SYN, 3), 0);
    m.observe(pkt(false, '203.0.113.2', 2000, SYNACK, 2), 1);
    m.observe(pkt(true, '203.0.113.2', 2000, SYN, 3), 1000);
    m.observe(pkt(true, '203.0.113.3', 3000, SYN, 3), 0);
    m.observe(pkt(true, '203.0.113.4', 4000, SYN, 3), 0);
    m.observe(pkt(false, '203.0.113.4', 4000, RST | ACK, 3), 1);
    m.observe(pkt(true, '203.0.113.5', 5000, SYN, 3), 1500);
    const t = m.tally(2000).get(VIP)!;
    expect(t.outcomes).toEqual({ symmetric: 1, asymmetric: 1, unanswered: 1, reset: 1, pending: 1 });
    expect(t.paths).toEqual({ 'eth1>eth1': 2, 'eth1>eth0': 1, 'eth1>-': 2 });
    expect(t.retransmittedSyns).toBe(1);
    expect(t.ingressPackets).toEqual({ eth1: 6 });
    const f = m.flows(2000, { outcome: 'asymmetric' });
    expect(f).toMatchObject([
      {
        client: '203.0.113.2',
        cport: 2000,
        vip: VIP,
        vport: 443,
        ingress: 'eth1',
        egress: 'eth0',
        syns: 2,
        synAck: true,
        packetsIn: 2,
        packetsOut: 1,
      },
    ]);
    expect(m.observedClients().get(VIP)).toEqual(['203.0.113.1', '203.0.113.2', '203.0.113.3', '203.0.113.4', '203.0.113.5']);
  });

  it('IPv6 flows', () => {
    const m = matcher();
    m.observe(pkt(true, '2001:db8:c::5', 1000, SYN, 3, '2001:db8:1::240'), 0);
    m.observe(pkt(false, '2001:db8:c::5', 1000, SYNACK, 2, '2001:db8:1::240'), 1);
    expect(m.flows(2)).toMatchObject([{ client: '2001:db8:c::5', cport: 1000, ingress: 'eth1', egress: 'eth0', outcome: 'asymmetric' }]);
  });

  it('says why packets are not in flows', () => {
    const m = matcher();
    expect(m.observe(pkt(true, '203.0.113.1', 1000, SYN, 3, '10.0.0.1'), 0)).toBe('not-vip');
    const outReq = { ...pkt(true, '203.0.113.1', 1000, SYN, 3), direction: 'outgoing' as const };
    expect(m.observe(outReq, 0)).toBe('outgoing-request');
    expect(m.observe({ ...pkt(true, '203.0.113.1', 1000, SYN, 3), ifindex: null }, 0)).toBe('no-interface');
    expect(m.skipped).toMatchObject({ 'not-vip': 1, 'outgoing-request': 1, 'no-interface': 1 });
  });

  it('bounded: evicts when full and expires idle flows, counting both', () => {
    const m = matcher({ capacity: 100, idleMs: 10 });
    for (let i = 0; i < 150; i++) m.observe(pkt(true, '203.0.113.9', 1000 + i, SYN, 3), i < 100 ? 0 : 50);
    expect(m.size).toBe(100);
    expect(m.evictions).toBe(50);
    expect(m.expire(55)).toBe(50);
    expect(m.size).toBe(50);
    expect(m.tally(55).get(VIP)!.outcomes.pending + m.tally(55).get(VIP)!.outcomes.unanswered).toBe(150);
  });

  it('its hash table stays consistent under random churn, through evictions and expiry (against a reference model)', () => {
    const r = prng(11);
    // Small table, idle timeout shorter than the expiry period: evictions and expiry both happen all along.
    const capacity = 64;
    const idle = 40;
    const m = matcher({ capacity, idleMs: idle });
    // The documented policy in plain structures: freed slots are reused last-freed first, then fresh slots in order;
    // when every slot is live, the CLOCK hand's slot is evicted and the hand moves on.
    const slotOf = new Map<string, number>();
    const keyAt: Array<string | null> = [];
    const last = new Map<string, number>();
    const free: number[] = [];
    let next = 0;
    let hand = 0;
    let evictions = 0;
    let now = 0;
    let compared = 0;
    let expired = 0;
    const openFlows = () =>
      m
        .flows(now)
        .map((f) => `${f.client}:${f.cport}`)
        .sort();
    for (let step = 0; step < 20_000; step++) {
      now++;
      const c = `10.0.${Math.floor(r() * 4)}.${Math.floor(r() * 200)}`;
      const port = 1000 + Math.floor(r() * 50);
      const key = `${c}:${port}`;
      m.observe(pkt(true, c, port, ACK, 3), now);
      if (!slotOf.has(key)) {
        let slot = free.pop();
        if (slot === undefined) {
          if (next < capacity) slot = next++;
          else {
            slot = hand;
            hand = (hand + 1) % capacity;
            const victim = keyAt[slot]!;
            slotOf.delete(victim);
            last.delete(victim);
            evictions++;
          }
        }
        slotOf.set(key, slot);
        keyAt[slot] = key;
      }
      last.set(key, now);
      if (step % 97 === 0) {
        expired += m.expire(now);
        for (let slot = 0; slot < next; slot++) {
          const k = keyAt[slot];
          if (k && now - last.get(k)! > idle) {
            slotOf.delete(k);
            last.delete(k);
            keyAt[slot] = null;
            free.push(slot);
          }
        }
      }
      expect(m.size, `step ${step}`).toBe(slotOf.size);
      expect(m.evictions, `step ${step}`).toBe(evictions);
      if (step % 251 === 0) {
        expect(openFlows(), `step ${step}`).toEqual([...slotOf.keys()].sort());
        compared++;
      }
    }
    // The run must have exercised evictions and expiry, with the comparison on throughout.
    expect(evictions).toBeGreaterThan(1000);
    expect(expired).toBeGreaterThan(1000);
    expect(compared).toBeGreaterThan(70);
    expect(openFlows()).toEqual([...slotOf.keys()].sort());
  });

  it('grows with use: starts small, doubles up to its capacity, and finds every flow across each growth', () => {
    const vip = 0xc0a801f0;
    for (const capacity of [5000, 3000]) {
      const m = matcher({ capacity, idleMs: 1e9 });
      expect(m.allocatedSlots).toBe(1024);
      const n = 4000;
      // Requests in on if3, replies out on if2 for every third flow: the replies must find the flows the requests made.
      for (let i = 0; i < n; i++) m.observeV4(0x0a000000 + i * 7, vip, 6, 1024 + (i % 50000), 443, SYN, 3, false, i);
      for (let i = 0; i < n; i++)
        m.observeV4(vip, 0x0a000000 + i * 7, 6, 443, 1024 + (i % 50000), SYNACK, i % 3 === 0 ? 2 : 3, true, n + i);
      expect(m.allocatedSlots).toBe(Math.min(capacity, 4096));
      const kept = Math.min(n, capacity);
      expect(m.size).toBe(kept);
      if (capacity >= n) expect(m.evictions).toBe(0);
      else expect(m.evictions).toBeGreaterThanOrEqual(n - capacity);
      const open = m.openTally(2 * n).get(VIP)!.outcomes;
      // Evicted flows' replies open reply-only flows (pending); without eviction every flow is answered.
      if (capacity >= n) {
        expect(open.symmetric + open.asymmetric).toBe(n);
        expect(open.asymmetric).toBe(Math.ceil(n / 3));
      } else expect(open.pending).toBeGreaterThan(0);
    }
  });

  it('flows with a limit are the first of the whole list, most recent first, ties in table order', () => {
    const r = prng(5);
    const m = matcher({ capacity: 2000, idleMs: 1e9 });
    // Coarse timestamps: many ties.
    for (let i = 0; i < 1500; i++) m.observeV4(0x0a000000 + i, 0xc0a801f0, 6, 1024 + i, 443, SYN, 3, false, Math.floor(r() * 50));
    const all = m.flows(100);
    expect(all.length).toBe(1500);
    for (let i = 1; i < all.length; i++) expect(all[i - 1]!.lastSeen).toBeGreaterThanOrEqual(all[i]!.lastSeen);
    const key = (f: { client: string; cport: number }) => `${f.client}:${f.cport}`;
    for (const limit of [1, 7, 20, 1499, 1500, 5000]) expect(m.flows(100, { limit }).map(key)).toEqual(all.slice(0, limit).map(key));
  });
});
