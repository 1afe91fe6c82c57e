// The flow matcher on decoded packets: outcomes, paths, retransmitted SYNs, IPv6, capacity, eviction and expiry,
// and its hash table under churn checked against a plain Map model.

import { describe, expect, it } from 'vitest';
import { CLIENT_TTL_MS, FlowMatcher, MAX_CLIENTS, MAX_CLIENTS_PER_VIP } from '../../agent/analysis/flow-matcher.js';
import { evidenceFindings } from '../../agent/analysis/live-evidence.js';
import { cappedFlows, MAX_FLOWS_RESPONSE_BYTES } from '../../agent/capture/capture-monitor.js';
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

function pkt(
  req: boolean,
  client: string,
  cport: number,
  flags: number,
  ifindex: number,
  vip = VIP,
  seq?: { seq?: number; ack?: number },
): PacketSummary {
  const v6 = vip.includes(':');
  const seg = tcpSegment({ src: '', dst: '', sport: req ? cport : 443, dport: req ? 443 : cport, flags, ...seq });
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
    expect(t.outcomes).toEqual({ symmetric: 1, asymmetric: 1, unanswered: 1, 'no-reply': 0, reset: 1, pending: 1 });
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
    // No client acknowledged a SYN-ACK: none is an observed client.
    expect(m.observedClients().size).toBe(0);
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

function frame(v6: boolean, ifindex: number, dir: 'host' | 'outgoing', ip: number[]): PacketSummary {
  const d = decodePacket(LINKTYPE.LINUX_SLL2, Buffer.from(sll2(v6 ? 0x86dd : 0x0800, ifindex, dir, ip)));
  if (!d.ok) throw new Error('bad test frame');
  return d;
}

const udp = (sport: number, dport: number) => [sport >> 8, sport & 0xff, dport >> 8, dport & 0xff, 0, 12, 0, 0, 1, 2, 3, 4];
/** A UDP request from client:cport to vip:53. */
const udpReq = (client: string, cport: number, ifindex: number, vip = VIP) =>
  frame(vip.includes(':'), ifindex, 'host', (vip.includes(':') ? ipv6Packet : ipv4Packet)(client, vip, 17, udp(cport, 53)));
/** The VIP's ICMP port unreachable for that request, quoting it whole, sent out on `ifindex`. */
function portUnreachable(client: string, cport: number, ifindex: number, vip = VIP): PacketSummary {
  const v6 = vip.includes(':');
  const quoted = (v6 ? ipv6Packet : ipv4Packet)(client, vip, 17, udp(cport, 53));
  const icmp = v6 ? [1, 4, 0, 0, 0, 0, 0, 0, ...quoted] : [3, 3, 0, 0, 0, 0, 0, 0, ...quoted];
  return frame(v6, ifindex, 'outgoing', (v6 ? ipv6Packet : ipv4Packet)(vip, client, v6 ? 58 : 1, icmp));
}

describe('FlowMatcher under spoofed and non-TCP traffic', () => {
  it('a RST that leaves on another interface is asymmetric; a RST on the same one stays reset', () => {
    const m = matcher();
    m.observe(pkt(true, '203.0.113.1', 1000, SYN, 3), 0);
    m.observe(pkt(false, '203.0.113.1', 1000, RST | ACK, 2), 1);
    m.observe(pkt(true, '203.0.113.2', 2000, SYN, 3), 0);
    m.observe(pkt(false, '203.0.113.2', 2000, RST | ACK, 3), 1);
    const t = m.openTally(10).get(VIP)!;
    expect(t.outcomes).toMatchObject({ asymmetric: 1, reset: 1 });
    expect(t.paths).toEqual({ 'eth1>eth0': 1, 'eth1>eth1': 1 });
    expect(m.flows(10, { outcome: 'asymmetric' })).toMatchObject([{ client: '203.0.113.1', reset: true, egress: 'eth0' }]);
    const f = evidenceFindings({ tally: m.openTally(10), skipped: m.skipped, interfacesKnown: true });
    expect(f.map((x) => x.type)).toEqual(['asymmetric-flows-observed']);
    expect(f[0]).toMatchObject({ ingress: 'eth1', egress: 'eth0' });
  });

  it('unanswered is a TCP SYN without reply; UDP without reply is no-reply and raises nothing', () => {
    const m = matcher();
    expect(m.observe(udpReq('203.0.113.7', 5353, 3), 0)).toBeNull();
    expect(m.openTally(500).get(VIP)!.outcomes.pending).toBe(1);
    expect(m.openTally(2000).get(VIP)!.outcomes).toMatchObject({ 'no-reply': 1, unanswered: 0 });
    expect(evidenceFindings({ tally: m.openTally(2000), skipped: m.skipped, interfacesKnown: true })).toEqual([]);
    // A TCP segment of a connection older than the capture (no SYN seen) is no unanswered SYN either.
    m.observe(pkt(true, '203.0.113.8', 4000, ACK, 3), 0);
    expect(m.openTally(2000).get(VIP)!.outcomes).toMatchObject({ 'no-reply': 2, unanswered: 0 });
    m.observe(pkt(true, '203.0.113.9', 4001, SYN, 3), 0);
    expect(m.openTally(2000).get(VIP)!.outcomes).toMatchObject({ 'no-reply': 2, unanswered: 1 });
    expect(evidenceFindings({ tally: m.openTally(2000), skipped: m.skipped, interfacesKnown: true }).map((x) => x.type)).toEqual([
      'syn-unanswered',
    ]);
  });

  it('with TCP data thinned by the capture, a connection older than the capture waits for a reply instead of counting as no-reply', () => {
    const m = new FlowMatcher({ vips: [VIP], answerMs: 1000, ifname: (i) => ({ 2: 'eth1', 3: 'eth0' })[i] ?? null, tcpDataThinned: true });
    m.observe(pkt(true, '203.0.113.8', 4000, ACK, 2), 0);
    expect(m.openTally(5000).get(VIP)!.outcomes).toMatchObject({ 'no-reply': 0, pending: 1 });
    // Once a reply of it is kept, it is judged as any other flow; an unanswered SYN is still unanswered.
    m.observe(pkt(false, '203.0.113.8', 4000, ACK, 3), 100);
    m.observe(pkt(true, '203.0.113.9', 4001, SYN, 2), 0);
    m.observe(udpReq('203.0.113.7', 5353, 2), 0);
    expect(m.openTally(5000).get(VIP)!.outcomes).toMatchObject({ asymmetric: 1, unanswered: 1, 'no-reply': 1, pending: 0 });
  });

  for (const vip of [VIP, '2001:db8:1::240']) {
    const client = vip.includes(':') ? '2001:db8:c::7' : '203.0.113.7';
    it(`an ICMP port unreachable from the VIP answers the flow it quotes, on its own interface (${vip})`, () => {
      const m = matcher();
      m.observe(udpReq(client, 5353, 3, vip), 0);
      m.observe(udpReq(client, 5354, 3, vip), 0);
      expect(m.observe(portUnreachable(client, 5353, 2, vip), 1)).toBeNull();
      expect(m.observe(portUnreachable(client, 5354, 3, vip), 1)).toBeNull();
      // An error quoting a flow that was never seen opens none.
      expect(m.observe(portUnreachable(client, 9999, 3, vip), 1)).toBe('icmp-error-unmatched');
      expect(m.size).toBe(2);
      const t = m.openTally(2000).get(vip)!;
      expect(t.outcomes).toMatchObject({ asymmetric: 1, symmetric: 1, 'no-reply': 0, pending: 0 });
      expect(t.paths).toEqual({ 'eth1>eth0': 1, 'eth1>eth1': 1 });
      expect(m.flows(2000, { outcome: 'asymmetric' })).toMatchObject([
        { client, cport: 5353, proto: 17, egress: 'eth0', packetsOut: 1, icmpError: true },
      ]);
      expect(m.skipped['icmp-error-unmatched']).toBe(1);
    });
  }

  it('a cut-off or garbled quote in an ICMP error is ignored, never thrown', () => {
    const r = prng(21);
    const good = Buffer.from(sll2(0x0800, 2, 'outgoing', [...portUnreachableIp()]));
    let quoted = 0;
    for (let n = 0; n < 5000; n++) {
      const b = Buffer.from(good.subarray(0, 20 + 28 + Math.floor(r() * (good.length - 47))));
      for (let k = 0; k < 3; k++) b[48 + Math.floor(r() * (b.length - 48))] = Math.floor(r() * 256);
      const d = decodePacket(LINKTYPE.LINUX_SLL2, b);
      if (d.ok && d.icmpQuote) quoted++;
      if (d.ok) matcher().observe(d, 0);
    }
    // Some survive with a quote, most mutations break it: both paths ran.
    expect(quoted).toBeGreaterThan(100);
    expect(quoted).toBeLessThan(5000);
  });

  it('observed clients: only those that acknowledge the SYN-ACK, never a spoofed SYN source', () => {
    const m = matcher();
    // A flood of SYNs from random sources, each answered with a SYN-ACK; some spoofers also send a blind ACK.
    for (let i = 0; i < 2000; i++) {
      const c = `10.${(i >> 8) & 255}.${i & 255}.1`;
      m.observe(pkt(true, c, 1000, SYN, 3, VIP, { seq: 7 }), i);
      m.observe(pkt(false, c, 1000, SYNACK, 3, VIP, { seq: 0x12345678 + i, ack: 8 }), i);
      if (i % 2) m.observe(pkt(true, c, 1000, ACK, 3, VIP, { seq: 8, ack: 1 }), i);
    }
    expect(m.observedClients().size).toBe(0);
    // A real client completes the handshake: it acknowledges ISN + 1 (here across the 32-bit wrap).
    m.observe(pkt(true, '198.51.100.5', 2000, SYN, 3, VIP, { seq: 7 }), 3000);
    m.observe(pkt(false, '198.51.100.5', 2000, SYNACK, 2, VIP, { seq: 0xffffffff, ack: 8 }), 3000);
    m.observe(pkt(true, '198.51.100.5', 2000, ACK, 3, VIP, { seq: 8, ack: 0 }), 3001);
    expect(m.observedClients(3001)).toEqual(new Map([[VIP, ['198.51.100.5']]]));
    // With TCP data thinned the client's ACK may not be kept; the VIP's FIN (or data) after the SYN-ACK proves the
    // handshake completed. The spoofed flows got SYN-ACK retransmissions and RSTs from the VIP only: still nobody.
    for (let i = 0; i < 2000; i += 3) {
      const c = `10.${(i >> 8) & 255}.${i & 255}.1`;
      m.observe(pkt(false, c, 1000, SYNACK, 3, VIP, { seq: 0x12345678 + i, ack: 8 }), 3001);
      m.observe(pkt(false, c, 1000, 0x04, 3, VIP, { seq: 0x12345679 + i }), 3001);
    }
    expect([...m.observedClients(3001).values()].flat()).toEqual(['198.51.100.5']);
    m.observe(pkt(true, '198.51.100.6', 2001, SYN, 3, VIP, { seq: 7 }), 3001);
    m.observe(pkt(false, '198.51.100.6', 2001, SYNACK, 3, VIP, { seq: 500, ack: 8 }), 3001);
    m.observe(pkt(false, '198.51.100.6', 2001, 0x11, 3, VIP, { seq: 501, ack: 8 }), 3001);
    expect(m.observedClients(3001).get(VIP)!.sort()).toEqual(['198.51.100.5', '198.51.100.6']);
    // Forgotten ten minutes after its last handshake.
    expect(
      m
        .observedClients(3001 + CLIENT_TTL_MS)
        .get(VIP)!
        .sort(),
    ).toEqual(['198.51.100.5', '198.51.100.6']);
    m.expire(3002 + CLIENT_TTL_MS);
    expect(m.observedClients().size).toBe(0);
  });

  it('observed clients are bounded per VIP and in all, oldest forgotten first', () => {
    const vips = Array.from({ length: 40 }, (_, i) => `192.0.2.${i + 1}`);
    const m = new FlowMatcher({ vips, ifname: (i) => NAMES[i] ?? null, capacity: 100_000 });
    let ts = 0;
    const handshake = (vip: string, client: string) => {
      ts++;
      m.observe(pkt(true, client, 2000, SYN, 3, vip), ts);
      m.observe(pkt(false, client, 2000, SYNACK, 3, vip, { seq: 99, ack: 1001 }), ts);
      m.observe(pkt(true, client, 2000, ACK, 3, vip, { seq: 1001, ack: 100 }), ts);
    };
    for (let i = 0; i < 100; i++) handshake(vips[0]!, `198.51.100.${i}`);
    const first = m.observedClients().get(vips[0]!)!;
    expect(first.length).toBe(MAX_CLIENTS_PER_VIP);
    expect(first[0]).toBe(`198.51.100.${100 - MAX_CLIENTS_PER_VIP}`);
    for (const vip of vips.slice(1)) for (let i = 0; i < 50; i++) handshake(vip, `198.51.${i}.9`);
    const all = [...m.observedClients().values()].flat();
    expect(all.length).toBe(MAX_CLIENTS);
    // The first VIP's clients were the oldest: the total cap took them first.
    expect(m.observedClients().get(vips[0]!)).toBeUndefined();
    expect(m.observedClients().get(vips.at(-1)!)!.length).toBe(50);
  });
});

function portUnreachableIp(): number[] {
  const quoted = ipv4Packet('203.0.113.7', VIP, 17, udp(5353, 53));
  return ipv4Packet(VIP, '203.0.113.7', 1, [3, 3, 0, 0, 0, 0, 0, 0, ...quoted]);
}

it("FlowMatcher with clients 'answered' (analyze) takes any client whose request got a reply, and only those", () => {
  const m = matcher({ clients: 'answered' });
  m.observe(pkt(true, '203.0.113.1', 1000, SYN, 3), 0);
  m.observe(pkt(false, '203.0.113.1', 1000, SYNACK, 2), 1);
  m.observe(pkt(true, '203.0.113.2', 1000, SYN, 3), 0);
  // A reply with no request seen (its flow was evicted, or started before the capture) names no client.
  m.observe(pkt(false, '203.0.113.3', 1000, SYNACK, 2), 1);
  expect(m.observedClients()).toEqual(new Map([[VIP, ['203.0.113.1']]]));
});

it('/v1/flows answers the most recent flows that fit in its byte cap, and says how many it left out', () => {
  const m = matcher({ capacity: 50_000, idleMs: 1e9 });
  for (let i = 0; i < 20_000; i++) m.observeV4(0x0a000000 + i, 0xc0a801f0, 6, 1024 + (i % 60000), 443, SYN, 3, false, i);
  const all = m.flows(30_000, { limit: 10_000 });
  expect(all.length).toBe(10_000);
  expect(all[0]!.lastSeen).toBe(19_999);
  const r = cappedFlows(all);
  expect(r.truncated).toBeDefined();
  expect(r.flows.length).toBe(r.truncated!.returned);
  expect(r.truncated!.returned + r.truncated!.omitted).toBe(10_000);
  expect(JSON.stringify(r.flows).length).toBeLessThanOrEqual(MAX_FLOWS_RESPONSE_BYTES);
  // Within a kilobyte of the cap: it is not cut short either.
  expect(JSON.stringify(r.flows).length).toBeGreaterThan(MAX_FLOWS_RESPONSE_BYTES - 1024);
  expect(r.flows.map((f) => f.lastSeen)).toEqual(all.slice(0, r.flows.length).map((f) => f.lastSeen));
  expect(cappedFlows(all.slice(0, 100))).toEqual({ flows: all.slice(0, 100) });
});

it('recentClients: the latest handshakes of any VIP, each client once, newest first, at most max', () => {
  const vips = ['192.0.2.1', '192.0.2.2'];
  const m = new FlowMatcher({ vips, ifname: (i) => NAMES[i] ?? null });
  const handshake = (vip: string, client: string, ts: number) => {
    m.observe(pkt(true, client, 2000, SYN, 3, vip), ts);
    m.observe(pkt(false, client, 2000, SYNACK, 3, vip, { seq: 5, ack: 1001 }), ts);
    m.observe(pkt(true, client, 2000, ACK, 3, vip, { seq: 1001, ack: 6 }), ts);
  };
  handshake(vips[0]!, '198.51.100.1', 10);
  handshake(vips[1]!, '198.51.100.2', 20);
  handshake(vips[1]!, '198.51.100.1', 30);
  handshake(vips[0]!, '198.51.100.3', 40);
  expect(m.recentClients(50, 10)).toEqual(['198.51.100.3', '198.51.100.1', '198.51.100.2']);
  expect(m.recentClients(50, 2)).toEqual(['198.51.100.3', '198.51.100.1']);
  // Aged: ten minutes after 20, only the handshakes at 30 and 40 are left.
  expect(m.recentClients(21 + CLIENT_TTL_MS, 10)).toEqual(['198.51.100.3', '198.51.100.1']);
});
