// The flow matcher's less travelled paths: VIP lists, interface and service caps, skip reasons, every field of a flow,
// outcome boundaries, closed and open tallies, and the observed-clients bookkeeping. Expected values follow the
// flow-table semantics documented in flow-matcher.ts, worked out by hand for each packet sequence.

import { describe, expect, it } from 'vitest';
import { CLIENT_TTL_MS, FlowMatcher, MAX_CLIENTS } from '../../agent/analysis/flow-matcher.js';
import { decodePacket, type PacketSummary } from '../../agent/decoders/packet.js';
import { LINKTYPE } from '../../agent/decoders/link.js';
import { arpRequest, ipv4Packet, ipv6Packet, sll2, tcpSegment } from '../../bench/frames.js';

const VIP = '192.168.1.240';
const VIP_N = 0xc0a801f0;
const VIP6 = '2001:db8:1::240';
const NAMES: Record<number, string> = { 2: 'eth0', 3: 'eth1', 4: 'eth2' };
const SYN = 0x02;
const SYNACK = 0x12;
const ACK = 0x10;
const RST = 0x04;
const FIN_ACK = 0x11;
const TCP = 6;
const UDP = 17;
const c4 = (s: string) => s.split('.').reduce((a, x) => a * 256 + Number(x), 0);

const matcher = (o: Partial<ConstructorParameters<typeof FlowMatcher>[0]> = {}) =>
  new FlowMatcher({ vips: [VIP, VIP6], ifname: (i) => NAMES[i] ?? null, answerMs: 1000, ...o });

// Requests and replies of one IPv4 flow client:cport <-> VIP:443 through the allocation-free entry.
function v4(m: FlowMatcher, client = '203.0.113.1', cport = 1000, vip = VIP_N, vport = 443) {
  return {
    req: (flags: number, ifindex: number, ts: number, seq = 0, ack = 0) =>
      m.observeV4(c4(client), vip, TCP, cport, vport, flags, ifindex, false, ts, seq, ack),
    rep: (flags: number, ifindex: number, ts: number, seq = 0, ack = 0) =>
      m.observeV4(vip, c4(client), TCP, vport, cport, flags, ifindex, true, ts, seq, ack),
  };
}

function frame(v6: boolean, ifindex: number, dir: 'host' | 'outgoing', ip: number[], ethertype = v6 ? 0x86dd : 0x0800): PacketSummary {
  const d = decodePacket(LINKTYPE.LINUX_SLL2, Buffer.from(sll2(ethertype, ifindex, dir, ip)));
  if (!d.ok) throw new Error('bad test frame');
  return d;
}
const seg = (sport: number, dport: number, flags: number) => tcpSegment({ src: '', dst: '', sport, dport, flags });
const udp = (sport: number, dport: number) => [sport >> 8, sport & 0xff, dport >> 8, dport & 0xff, 0, 12, 0, 0, 1, 2, 3, 4];

describe('FlowMatcher VIPs', () => {
  it('skips unparsable VIPs, takes IPv6 VIPs in any spelling, and counts a duplicate once', () => {
    const m = new FlowMatcher({ vips: ['no-vip', VIP, VIP, '2001:DB8:1:0:0:0:0:240'], ifname: (i) => NAMES[i] ?? null });
    expect(m.observeV4(c4('203.0.113.1'), VIP_N, TCP, 1000, 443, SYN, 3, false, 0)).toBeNull();
    expect(m.observe(frame(true, 3, 'host', ipv6Packet('2001:db8:c::1', VIP6, TCP, seg(1000, 443, SYN))), 0)).toBeNull();
    expect([...m.tally(0).keys()].sort()).toEqual([VIP, VIP6]);
    expect(m.observeV4(c4('203.0.113.1'), c4('192.168.1.241'), TCP, 1000, 443, SYN, 3, false, 0)).toBe('not-vip');
  });

  it.each([16, 17, 40])('finds each of %i IPv4 VIPs, and no other address', (n) => {
    const vips = Array.from({ length: n }, (_, i) => `10.9.0.${i + 1}`);
    const m = new FlowMatcher({ vips, ifname: (i) => NAMES[i] ?? null });
    for (let i = 0; i < n; i++) expect(m.observeV4(c4('203.0.113.1'), c4(vips[i]!), TCP, 1000, 443, SYN, 3, false, 0)).toBeNull();
    expect(m.observeV4(c4('203.0.113.1'), c4(`10.9.0.${n + 1}`), TCP, 1000, 443, SYN, 3, false, 0)).toBe('not-vip');
    expect(m.observeV4(c4('203.0.113.1'), c4('10.9.0.0'), TCP, 1000, 443, SYN, 3, false, 0)).toBe('not-vip');
    expect([...m.tally(0).keys()].sort()).toEqual([...vips].sort());
    // Replies from the last VIP find its flow.
    expect(m.observeV4(c4(vips[n - 1]!), c4('203.0.113.1'), TCP, 443, 1000, SYNACK, 3, true, 1)).toBeNull();
    expect(m.flows(1, { vip: vips[n - 1] })).toMatchObject([{ packetsIn: 1, packetsOut: 1, outcome: 'symmetric' }]);
  });
});

describe('FlowMatcher skip reasons', () => {
  it('says why a packet joins no flow, for IPv4 and IPv6, and counts each reason', () => {
    const m = matcher();
    const arp = frame(false, 3, 'host', arpRequest('203.0.113.1', VIP), 0x0806);
    expect(m.observe(arp, 0)).toBe('not-ip');
    // GRE to the VIP: no ports, and not ICMP.
    expect(m.observe(frame(false, 3, 'host', ipv4Packet('203.0.113.1', VIP, 47, [0, 0, 8, 0])), 0)).toBe('no-ports');
    expect(m.observe(frame(true, 3, 'host', ipv6Packet('2001:db8:c::1', VIP6, 47, [0, 0, 0x86, 0xdd])), 0)).toBe('no-ports');
    // From the VIP but received, to nobody's VIP.
    expect(m.observe(frame(false, 3, 'host', ipv4Packet(VIP, '203.0.113.1', TCP, seg(443, 1000, SYNACK))), 0)).toBe('incoming-reply');
    expect(m.observe(frame(true, 3, 'host', ipv6Packet(VIP6, '2001:db8:c::1', TCP, seg(443, 1000, SYNACK))), 0)).toBe('incoming-reply');
    expect(m.observe(frame(true, 3, 'outgoing', ipv6Packet('2001:db8:c::1', VIP6, TCP, seg(1000, 443, SYN))), 0)).toBe('outgoing-request');
    expect(m.observe(frame(true, 3, 'host', ipv6Packet('2001:db8:c::1', '2001:db8:1::241', TCP, seg(1000, 443, SYN))), 0)).toBe('not-vip');
    const v6req = frame(true, 3, 'host', ipv6Packet('2001:db8:c::1', VIP6, TCP, seg(1000, 443, SYN)));
    expect(m.observe({ ...v6req, ifindex: null }, 0)).toBe('no-interface');
    expect(m.skipped).toEqual({
      'not-ip': 1,
      'not-vip': 1,
      'no-interface': 1,
      'no-ports': 2,
      'outgoing-request': 1,
      'incoming-reply': 2,
      'too-many-services': 0,
      'icmp-error-unmatched': 0,
    });
    expect(m.size).toBe(0);
  });

  it('takes ICMP and ICMPv6 without ports as flows of port 0', () => {
    const m = matcher();
    const echo = [8, 0, 0, 0, 0, 1, 0, 1];
    expect(m.observe(frame(false, 3, 'host', ipv4Packet('203.0.113.1', VIP, 1, echo)), 0)).toBeNull();
    expect(m.observe(frame(false, 3, 'outgoing', ipv4Packet(VIP, '203.0.113.1', 1, [0, 0, 0, 0, 0, 1, 0, 1])), 1)).toBeNull();
    expect(m.observe(frame(true, 3, 'host', ipv6Packet('2001:db8:c::1', VIP6, 58, [128, 0, 0, 0, 0, 1, 0, 1])), 0)).toBeNull();
    expect(m.flows(1).map((f) => [f.client, f.cport, f.vport, f.proto, f.outcome])).toEqual([
      ['203.0.113.1', 0, 0, 1, 'symmetric'],
      ['2001:db8:c::1', 0, 0, 58, 'pending'],
    ]);
  });

  it('counts a VIP talking to itself as a request where it arrives and a reply where it leaves', () => {
    const m = matcher();
    expect(m.observeV4(VIP_N, VIP_N, TCP, 5000, 443, SYN, 1, false, 0)).toBeNull();
    expect(m.observeV4(VIP_N, VIP_N, TCP, 443, 5000, SYNACK, 1, true, 1)).toBeNull();
    expect(m.flows(2)).toMatchObject([{ client: VIP, cport: 5000, vport: 443, packetsIn: 1, packetsOut: 1, outcome: 'symmetric' }]);
  });
});

describe('FlowMatcher interfaces', () => {
  it('names interfaces if<index> by default and when the name is unknown; equal names are one interface', () => {
    const d = new FlowMatcher({ vips: [VIP] });
    v4(d).req(SYN, 7, 0);
    v4(d).rep(SYNACK, 8, 1);
    expect(d.flows(1)).toMatchObject([{ ingress: 'if7', egress: 'if8', outcome: 'asymmetric' }]);
    const m = new FlowMatcher({ vips: [VIP], ifname: (i) => (i === 9 ? null : i === 5 || i === 6 ? 'bond0' : `x${i}`) });
    v4(m).req(SYN, 9, 0);
    v4(m).rep(SYNACK, 9, 1);
    v4(m, '203.0.113.2').req(SYN, 5, 0);
    v4(m, '203.0.113.2').rep(SYNACK, 6, 1);
    expect(m.tally(1).get(VIP)!.paths).toEqual({ 'if9>if9': 1, 'bond0>bond0': 1 });
    expect(m.tally(1).get(VIP)!.outcomes.symmetric).toBe(2);
  });

  it('keeps the first ingress and egress of a flow, alternating interfaces', () => {
    const m = matcher();
    const f = v4(m);
    f.req(SYN, 3, 0);
    f.req(SYN, 2, 1);
    f.req(SYN, 3, 2);
    f.rep(SYNACK, 2, 3);
    f.rep(SYNACK, 3, 4);
    expect(m.flows(5)).toMatchObject([{ ingress: 'eth1', egress: 'eth0', packetsIn: 3, packetsOut: 2, syns: 3 }]);
    expect(m.tally(5).get(VIP)!.ingressPackets).toEqual({ eth1: 2, eth0: 1 });
  });

  it('looks names up again after refreshInterfaces, not before', () => {
    const names: Record<number, string> = { 3: 'eth1' };
    const m = new FlowMatcher({ vips: [VIP], ifname: (i) => names[i] ?? null });
    v4(m, '203.0.113.1').req(SYN, 3, 0);
    names[3] = 'eth9';
    v4(m, '203.0.113.2').req(SYN, 3, 0);
    m.refreshInterfaces();
    v4(m, '203.0.113.3').req(SYN, 3, 0);
    expect(m.tally(0).get(VIP)!.ingressPackets).toEqual({ eth1: 2, eth9: 1 });
  });

  it('names at most 4095 interfaces; later ones are unknown ("?") in paths and ingress counts', () => {
    const m = new FlowMatcher({ vips: [VIP], ifname: (i) => `i${i}` });
    for (let i = 1; i <= 4096; i++) v4(m, '203.0.113.1', i).req(SYN, i, 0);
    v4(m, '203.0.113.1', 4096).rep(SYNACK, 4096, 1);
    const last = m.flows(1, { limit: 1 })[0]!;
    expect([last.cport, last.ingress, last.egress]).toEqual([4096, null, null]);
    const t = m.tally(1).get(VIP)!;
    expect(Object.keys(t.ingressPackets).length).toBe(4096);
    expect(t.ingressPackets['i4095']).toBe(1);
    expect(t.ingressPackets['?']).toBe(1);
    expect(t.paths['?>-']).toBe(1);
  });
});

describe('FlowMatcher services', () => {
  it('interns at most 65535 services; then new ones are refused on every path', () => {
    const m = matcher({ capacity: 70_000 });
    let joined = 0;
    for (let port = 0; port < 65535; port++) if (m.observeV4(c4('203.0.113.1'), VIP_N, UDP, 1000, port, 0, 3, false, 0) === null) joined++;
    expect(joined).toBe(65535);
    expect(m.observeV4(c4('203.0.113.1'), VIP_N, UDP, 1000, 65535, 0, 3, false, 0)).toBe('too-many-services');
    expect(m.observeV4(c4('203.0.113.1'), VIP_N, TCP, 1000, 80, SYN, 3, false, 0)).toBe('too-many-services');
    expect(m.observe(frame(true, 3, 'host', ipv6Packet('2001:db8:c::1', VIP6, TCP, seg(1000, 443, SYN))), 0)).toBe('too-many-services');
    // A known service still works, and so does an ICMP error for it; one quoting an unknown service is refused.
    expect(m.observeV4(c4('203.0.113.2'), VIP_N, UDP, 1000, 53, 0, 3, false, 0)).toBeNull();
    const unreachable = (dport: number) => {
      const quoted = ipv4Packet('203.0.113.2', VIP, TCP, seg(1000, dport, SYN));
      return frame(false, 2, 'outgoing', ipv4Packet(VIP, '203.0.113.2', 1, [3, 3, 0, 0, 0, 0, 0, 0, ...quoted]));
    };
    expect(m.observe(unreachable(80), 1)).toBe('too-many-services');
    const quoted6 = ipv6Packet('2001:db8:c::1', VIP6, TCP, seg(1000, 443, SYN));
    expect(m.observe(frame(true, 2, 'outgoing', ipv6Packet(VIP6, '2001:db8:c::1', 58, [1, 4, 0, 0, 0, 0, 0, 0, ...quoted6])), 1)).toBe(
      'too-many-services',
    );
    expect(m.skipped['too-many-services']).toBe(5);
  });

  it('keeps services apart by VIP, port and protocol, alternating between them', () => {
    const m = matcher();
    const both = ['10.0.0.1', '10.0.0.2'];
    const m2 = new FlowMatcher({ vips: both, ifname: (i) => NAMES[i] ?? null });
    // Same client and port to 443/TCP, 443/UDP and 80/TCP: three flows; two VIPs with the same port: two flows.
    m.observeV4(c4('203.0.113.1'), VIP_N, TCP, 1000, 443, SYN, 3, false, 0);
    m.observeV4(c4('203.0.113.1'), VIP_N, UDP, 1000, 443, 0, 3, false, 0);
    m.observeV4(c4('203.0.113.1'), VIP_N, TCP, 1000, 80, SYN, 3, false, 0);
    m.observeV4(c4('203.0.113.1'), VIP_N, TCP, 1000, 443, SYN, 3, false, 1);
    expect(m.flows(2).map((f) => `${f.proto}/${f.vport}:${f.packetsIn}`)).toEqual(['6/443:2', '17/443:1', '6/80:1']);
    m2.observeV4(c4('203.0.113.1'), c4(both[0]!), TCP, 1000, 443, SYN, 3, false, 0);
    m2.observeV4(c4('203.0.113.1'), c4(both[1]!), TCP, 1000, 443, SYN, 3, false, 0);
    m2.observeV4(c4('203.0.113.1'), c4(both[0]!), TCP, 1000, 443, SYN, 3, false, 0);
    expect(m2.flows(0).map((f) => `${f.vip}:${f.packetsIn}`)).toEqual(['10.0.0.1:2', '10.0.0.2:1']);
  });
});

describe('FlowMatcher flow fields and outcomes', () => {
  it('gives every field of a flow', () => {
    const m = matcher();
    const f = v4(m, '203.0.113.9', 40000);
    f.req(SYN, 3, 100);
    f.req(SYN, 3, 400);
    f.rep(SYNACK, 2, 450, 77);
    f.req(RST, 3, 500);
    expect(m.flows(600)).toEqual([
      {
        vip: VIP,
        vport: 443,
        client: '203.0.113.9',
        cport: 40000,
        proto: TCP,
        ingress: 'eth1',
        egress: 'eth0',
        firstSeen: 100,
        lastSeen: 500,
        packetsIn: 3,
        packetsOut: 1,
        syns: 2,
        synAck: true,
        reset: true,
        icmpError: false,
        outcome: 'asymmetric',
      },
    ]);
    const m6 = matcher();
    m6.observe(frame(true, 3, 'host', ipv6Packet('2001:db8:c::1', VIP6, UDP, udp(5353, 53))), 7);
    expect(m6.flows(8)).toEqual([
      {
        vip: VIP6,
        vport: 53,
        client: '2001:db8:c::1',
        cport: 5353,
        proto: UDP,
        ingress: 'eth1',
        egress: null,
        firstSeen: 7,
        lastSeen: 7,
        packetsIn: 1,
        packetsOut: 0,
        syns: 0,
        synAck: false,
        reset: false,
        icmpError: false,
        outcome: 'pending',
      },
    ]);
  });

  it('counts the SYNs without ACK from the client, up to 65535', () => {
    const m = matcher();
    const f = v4(m);
    f.req(SYNACK, 3, 0);
    f.req(SYN | RST, 3, 0);
    f.req(ACK, 3, 0);
    expect(m.flows(0)[0]!.syns).toBe(1);
    for (let i = 0; i < 70_000; i++) f.req(SYN, 3, 0);
    expect(m.flows(0)[0]!.syns).toBe(65535);
  });

  it('decides outcomes at answerMs after the first packet, not before', () => {
    const m = matcher({ answerMs: 1000 });
    v4(m, '203.0.113.1').req(SYN, 3, 100);
    m.observeV4(c4('203.0.113.2'), VIP_N, UDP, 1000, 53, 0, 3, false, 100);
    const outcomes = (now: number) => m.flows(now).map((f) => f.outcome);
    expect(outcomes(1099)).toEqual(['pending', 'pending']);
    expect(outcomes(1100)).toEqual(['unanswered', 'no-reply']);
  });

  it('a client RST without a reply is reset at once; replies without a request stay pending', () => {
    const m = matcher();
    v4(m, '203.0.113.1').req(RST, 3, 0);
    v4(m, '203.0.113.2').rep(SYNACK, 2, 0);
    v4(m, '203.0.113.2').rep(ACK, 2, 1);
    expect(m.flows(5000).map((f) => [f.client, f.outcome])).toEqual([
      ['203.0.113.2', 'pending'],
      ['203.0.113.1', 'reset'],
    ]);
    expect(m.tally(5000).get(VIP)!.paths).toEqual({ 'eth1>-': 1, '?>eth0': 1 });
  });

  it('with thinned TCP data only TCP waits: UDP without a reply is still no-reply', () => {
    const m = matcher({ tcpDataThinned: true });
    m.observeV4(c4('203.0.113.2'), VIP_N, UDP, 1000, 53, 0, 3, false, 0);
    v4(m).req(ACK, 3, 0);
    expect(m.flows(5000).map((f) => [f.proto, f.outcome])).toEqual([
      [UDP, 'no-reply'],
      [TCP, 'pending'],
    ]);
  });
});

describe('FlowMatcher flows()', () => {
  it('filters by VIP and outcome; a limit of 0 or below means no limit', () => {
    const m = matcher();
    v4(m, '203.0.113.1').req(SYN, 3, 1);
    v4(m, '203.0.113.2').req(SYN, 3, 2);
    m.observe(frame(true, 3, 'host', ipv6Packet('2001:db8:c::1', VIP6, TCP, seg(1000, 443, SYN))), 3);
    v4(m, '203.0.113.2').rep(SYNACK, 3, 4);
    const clients = (f: { client: string }[]) => f.map((x) => x.client);
    expect(clients(m.flows(10))).toEqual(['203.0.113.2', '2001:db8:c::1', '203.0.113.1']);
    expect(clients(m.flows(10, { vip: VIP }))).toEqual(['203.0.113.2', '203.0.113.1']);
    expect(clients(m.flows(10, { vip: VIP6 }))).toEqual(['2001:db8:c::1']);
    expect(clients(m.flows(10, { outcome: 'symmetric' }))).toEqual(['203.0.113.2']);
    expect(clients(m.flows(10, { limit: 0 }))).toHaveLength(3);
    expect(clients(m.flows(10, { limit: -1 }))).toHaveLength(3);
    expect(clients(m.flows(10, { limit: 2 }))).toEqual(['203.0.113.2', '2001:db8:c::1']);
  });

  it('a limit keeps the most recent flows whatever order they arrived in', () => {
    const m = matcher({ idleMs: 1e9 });
    // Last-seen times 5, 9, 1, 7, 3, 8, 2, 6, 4, 0 in slot order.
    const times = [5, 9, 1, 7, 3, 8, 2, 6, 4, 0];
    times.forEach((t, i) => v4(m, `203.0.113.${i}`).req(SYN, 3, t));
    for (const limit of [1, 2, 3, 4, 5, 9, 10]) {
      const want = [...times].sort((a, b) => b - a).slice(0, limit);
      expect(m.flows(10, { limit }).map((f) => f.lastSeen)).toEqual(want);
    }
    // Ties keep table order.
    const t = matcher();
    for (let i = 0; i < 6; i++) v4(t, `203.0.113.${i}`).req(SYN, 3, i % 2);
    expect(t.flows(5, { limit: 4 }).map((f) => f.client)).toEqual(['203.0.113.1', '203.0.113.3', '203.0.113.5', '203.0.113.0']);
  });
});

describe('FlowMatcher tallies', () => {
  it('adds closed flows to tally() but not to openTally(), with outcomes decided when they closed', () => {
    const m = matcher({ idleMs: 100 });
    v4(m, '203.0.113.1').req(SYN, 3, 0);
    v4(m, '203.0.113.1').req(SYN, 3, 10);
    v4(m, '203.0.113.1').req(SYN, 3, 20);
    v4(m, '203.0.113.2').req(SYN, 3, 0);
    v4(m, '203.0.113.2').rep(SYNACK, 2, 1);
    expect(m.expire(2000)).toBe(2);
    v4(m, '203.0.113.3').req(SYN, 4, 2000);
    v4(m, '203.0.113.3').req(SYN, 4, 2001);
    const all = m.tally(2001).get(VIP)!;
    expect(all).toEqual({
      outcomes: { symmetric: 0, asymmetric: 1, unanswered: 1, 'no-reply': 0, reset: 0, pending: 1 },
      paths: { 'eth1>-': 1, 'eth1>eth0': 1, 'eth2>-': 1 },
      ingressPackets: { eth1: 4, eth2: 2 },
      retransmittedSyns: 3,
    });
    expect(m.openTally(2001).get(VIP)).toEqual({
      outcomes: { symmetric: 0, asymmetric: 0, unanswered: 0, 'no-reply': 0, reset: 0, pending: 1 },
      paths: { 'eth2>-': 1 },
      ingressPackets: {},
      retransmittedSyns: 1,
    });
  });

  it('folds several services of a VIP into one tally, and keeps VIPs apart', () => {
    const m = matcher();
    m.observeV4(c4('203.0.113.1'), VIP_N, TCP, 1000, 443, SYN, 3, false, 0);
    m.observeV4(c4('203.0.113.1'), VIP_N, TCP, 1000, 80, SYN, 2, false, 0);
    m.observeV4(c4('203.0.113.1'), VIP_N, TCP, 1000, 443, SYN, 3, false, 0);
    m.observeV4(c4('203.0.113.1'), VIP_N, TCP, 1000, 80, SYN, 3, false, 0);
    m.observe(frame(true, 3, 'host', ipv6Packet('2001:db8:c::1', VIP6, TCP, seg(1000, 443, SYN))), 0);
    const t = m.tally(5000);
    expect(t.get(VIP)).toEqual({
      outcomes: { symmetric: 0, asymmetric: 0, unanswered: 2, 'no-reply': 0, reset: 0, pending: 0 },
      paths: { 'eth1>-': 1, 'eth0>-': 1 },
      ingressPackets: { eth1: 3, eth0: 1 },
      retransmittedSyns: 2,
    });
    expect(t.get(VIP6)!.ingressPackets).toEqual({ eth1: 1 });
    expect(m.openTally(5000).get(VIP6)!.outcomes.unanswered).toBe(1);
  });
});

describe('FlowMatcher observed clients', () => {
  // A full handshake: SYN, SYN-ACK with ISN 1000, the client's ACK of ISN + 1.
  const handshake = (m: FlowMatcher, client: string, ts: number, vip = VIP_N) => {
    const f = v4(m, client, 1000, vip);
    f.req(SYN, 3, ts);
    f.rep(SYNACK, 3, ts, 1000);
    f.req(ACK, 3, ts, 0, 1001);
  };

  it('verifies a client only by an ACK of ISN + 1 after the SYN-ACK, never by a SYN, RST or other ACK', () => {
    const m = matcher();
    const f = v4(m, '203.0.113.1');
    f.req(ACK, 3, 0, 0, 1001); // before any SYN-ACK
    f.rep(SYNACK, 3, 1, 1000);
    f.req(ACK, 3, 2, 0, 1000);
    f.req(SYN | ACK, 3, 3, 0, 1001);
    f.req(RST | ACK, 3, 4, 0, 1001);
    expect(m.observedClients().size).toBe(0);
    f.req(ACK, 3, 5, 0, 1001);
    expect(m.observedClients(5)).toEqual(new Map([[VIP, ['203.0.113.1']]]));
  });

  it("verifies by the VIP's own ACK after its SYN-ACK, but not by its RST or a second SYN-ACK", () => {
    const m = matcher();
    const f = v4(m, '203.0.113.1');
    f.rep(ACK, 3, 0); // no SYN-ACK yet
    f.rep(SYNACK, 3, 1, 1000);
    f.rep(RST | ACK, 3, 2);
    f.rep(SYNACK, 3, 3, 1000);
    expect(m.observedClients().size).toBe(0);
    f.rep(FIN_ACK, 3, 4);
    expect(m.observedClients(4)).toEqual(new Map([[VIP, ['203.0.113.1']]]));
  });

  it("in 'answered' mode the VIP's data does not verify a client that never sent a request", () => {
    const m = matcher({ clients: 'answered' });
    const f = v4(m, '203.0.113.1');
    f.rep(SYNACK, 3, 1, 1000);
    f.rep(ACK, 3, 2);
    expect(m.observedClients().size).toBe(0);
    f.req(ACK, 3, 3);
    expect(m.observedClients().size).toBe(0);
    f.rep(ACK, 3, 4);
    expect(m.observedClients()).toEqual(new Map([[VIP, ['203.0.113.1']]]));
  });

  it('a client verified again moves to the newest place; kept until exactly CLIENT_TTL_MS after', () => {
    const m = matcher();
    handshake(m, '203.0.113.1', 10);
    handshake(m, '203.0.113.2', 20);
    // A new connection from the first client (another port) verifies it again, later.
    const again = v4(m, '203.0.113.1', 2000);
    again.req(SYN, 3, 30);
    again.rep(SYNACK, 3, 30, 5);
    again.req(ACK, 3, 30, 0, 6);
    expect(m.observedClients().get(VIP)).toEqual(['203.0.113.2', '203.0.113.1']);
    expect(m.observedClients(20 + CLIENT_TTL_MS).get(VIP)).toEqual(['203.0.113.2', '203.0.113.1']);
    expect(m.observedClients(21 + CLIENT_TTL_MS).get(VIP)).toEqual(['203.0.113.1']);
    expect(m.recentClients(21 + CLIENT_TTL_MS, 5)).toEqual(['203.0.113.1']);
    expect(m.observedClients(31 + CLIENT_TTL_MS).size).toBe(0);
  });

  it('the total cap forgets the oldest client of all VIPs and drops a VIP left with none', () => {
    const vips = Array.from({ length: 17 }, (_, i) => `10.9.0.${i + 1}`);
    const m = new FlowMatcher({ vips, ifname: (i) => NAMES[i] ?? null, capacity: 10_000 });
    // One client of the first VIP, then 64 clients for each of the next 16 VIPs: 1 + 1024 > MAX_CLIENTS.
    handshake(m, '198.51.100.1', 1, c4(vips[0]!));
    let ts = 2;
    for (const vip of vips.slice(1)) for (let i = 0; i < 64; i++) handshake(m, `198.51.${i}.${vips.indexOf(vip)}`, ts++, c4(vip));
    const seen = m.observedClients();
    expect(seen.has(vips[0]!)).toBe(false);
    expect([...seen.values()].flat().length).toBe(MAX_CLIENTS);
    // The next one forgets the oldest remaining: the second VIP's first client.
    handshake(m, '198.51.200.1', ts++, c4(vips[0]!));
    const after = m.observedClients();
    expect(after.get(vips[0]!)).toEqual(['198.51.200.1']);
    expect(after.get(vips[1]!)!.length).toBe(63);
    expect(after.get(vips[1]!)![0]).toBe('198.51.1.1');
    expect([...after.values()].flat().length).toBe(MAX_CLIENTS);
  });

  it('recentClients gives each client once, at its latest handshake over all VIPs', () => {
    const m = new FlowMatcher({ vips: ['10.9.0.1', '10.9.0.2'], ifname: (i) => NAMES[i] ?? null });
    handshake(m, '198.51.100.1', 50, c4('10.9.0.1'));
    handshake(m, '198.51.100.2', 40, c4('10.9.0.2'));
    handshake(m, '198.51.100.1', 10, c4('10.9.0.2'));
    expect(m.recentClients(60, 10)).toEqual(['198.51.100.1', '198.51.100.2']);
    expect(m.recentClients(60, 0)).toEqual([]);
  });
});

describe('FlowMatcher edges found by mutation testing', () => {
  const handshake = (m: FlowMatcher, client: string, ts: number, vip = VIP_N, cport = 1000) => {
    const f = v4(m, client, cport, vip);
    f.req(SYN, 3, ts);
    f.rep(SYNACK, 3, ts, 1000);
    f.req(ACK, 3, ts, 0, 1001);
  };
  const total = (m: FlowMatcher) => [...m.observedClients().values()].flat().length;

  it('keeps every (protocol, port) apart, whichever comes first', () => {
    const combos = [0, 1, 6, 17, 255].flatMap((proto) => [0, 1, 65535].map((port) => [proto, port] as const));
    const shared = matcher();
    for (const [proto, port] of combos) {
      // A fresh matcher whose first packet is this service, and one that has seen all the others before.
      const m = matcher();
      expect(m.observeV4(c4('203.0.113.1'), VIP_N, proto, 7, port, 0, 3, false, 0)).toBeNull();
      expect(m.flows(0).map((f) => [f.proto, f.vport])).toEqual([[proto, port]]);
      for (let k = 0; k < 2; k++) expect(shared.observeV4(c4('203.0.113.1'), VIP_N, proto, 7, port, 0, 3, false, 0)).toBeNull();
    }
    expect(shared.size).toBe(combos.length);
    expect(shared.flows(0).every((f) => f.packetsIn === 2)).toBe(true);
  });

  it('takes no summary without addresses, whatever its kind says', () => {
    const m = matcher();
    const ip = frame(false, 3, 'host', ipv4Packet('203.0.113.1', VIP, TCP, seg(1000, 443, SYN)));
    expect(m.observe({ ...ip, kind: 'other' }, 0)).toBe('not-ip');
    expect(m.observe({ ...ip, src: null }, 0)).toBe('not-ip');
    expect(m.observe({ ...ip, dst: null }, 0)).toBe('not-ip');
    expect(m.observe(ip, 0)).toBeNull();
  });

  it('an ICMP error the VIP receives is a request of its sender, not an answer', () => {
    const m = matcher();
    // A router tells the VIP its reply to 203.0.113.1 could not be delivered.
    const quoted = ipv4Packet(VIP, '203.0.113.1', TCP, seg(443, 1000, SYNACK));
    const err = frame(false, 3, 'host', ipv4Packet('198.51.100.254', VIP, 1, [3, 1, 0, 0, 0, 0, 0, 0, ...quoted]));
    expect(err.icmpQuote).not.toBeNull();
    expect(m.observe(err, 0)).toBeNull();
    expect(m.flows(0)).toMatchObject([{ client: '198.51.100.254', proto: 1, packetsIn: 1, icmpError: false }]);
  });

  it('refuses an ICMP error without interface or quoting no VIP', () => {
    const m = matcher();
    m.observe(frame(false, 3, 'host', ipv4Packet('203.0.113.7', VIP, UDP, udp(5353, 53))), 0);
    const q4 = (dst: string) => ipv4Packet('203.0.113.7', dst, UDP, udp(5353, 53));
    const e4 = (dst: string) => frame(false, 2, 'outgoing', ipv4Packet(VIP, '203.0.113.7', 1, [3, 3, 0, 0, 0, 0, 0, 0, ...q4(dst)]));
    expect(m.observe({ ...e4(VIP), ifindex: null }, 1)).toBe('no-interface');
    expect(m.observe(e4('192.168.1.241'), 1)).toBe('not-vip');
    const q6 = ipv6Packet('2001:db8:c::7', '2001:db8:1::241', UDP, udp(5353, 53));
    expect(m.observe(frame(true, 2, 'outgoing', ipv6Packet(VIP6, '2001:db8:c::7', 58, [1, 4, 0, 0, 0, 0, 0, 0, ...q6])), 1)).toBe(
      'not-vip',
    );
    expect(m.skipped).toMatchObject({ 'no-interface': 1, 'not-vip': 2 });
    expect(m.flows(1)).toMatchObject([{ packetsOut: 0, icmpError: false }]);
  });

  it('verifies an IPv6 client by its ACK of the SYN-ACK sequence number + 1', () => {
    const m = matcher();
    const c = '2001:db8:c::9';
    const tcp6 = (req: boolean, flags: number, seq: number, ack: number) =>
      frame(
        true,
        3,
        req ? 'host' : 'outgoing',
        ipv6Packet(
          req ? c : VIP6,
          req ? VIP6 : c,
          TCP,
          tcpSegment({ src: '', dst: '', sport: req ? 1000 : 443, dport: req ? 443 : 1000, flags, seq, ack }),
        ),
      );
    m.observe(tcp6(true, SYN, 500, 0), 0);
    m.observe(tcp6(false, SYNACK, 0x7000, 501), 1);
    m.observe(tcp6(true, ACK, 501, 0x7000), 2);
    expect(m.observedClients().size).toBe(0);
    m.observe(tcp6(true, ACK, 501, 0x7001), 3);
    expect(m.observedClients()).toEqual(new Map([[VIP6, [c]]]));
  });

  it('verification keeps the SYN-ACK and RST marks, and happens once per flow', () => {
    const a = matcher();
    handshake(a, '203.0.113.1', 10);
    // A duplicate ACK later does not renew the handshake's time.
    v4(a, '203.0.113.1').req(ACK, 3, 500, 0, 1001);
    expect(a.flows(500)).toMatchObject([{ synAck: true, reset: false }]);
    expect(a.observedClients(11 + CLIENT_TTL_MS).size).toBe(0);
    // Before any SYN-ACK, an ACK of 1 (ISN 0 + 1) proves nothing.
    const b = matcher();
    v4(b).req(ACK, 3, 0, 0, 1);
    expect(b.observedClients().size).toBe(0);
    // The VIP's own ACK after its SYN-ACK.
    const c = matcher();
    v4(c).rep(SYNACK, 3, 0, 1000);
    v4(c).rep(ACK, 3, 1);
    expect(c.flows(1)).toMatchObject([{ synAck: true }]);
    expect(c.observedClients().size).toBe(1);
    // 'answered': the reply after a client's RST.
    const d = matcher({ clients: 'answered' });
    v4(d).req(SYN, 3, 0);
    v4(d).req(RST, 3, 1);
    v4(d).rep(ACK, 3, 2);
    v4(d).rep(ACK, 3, 3 + CLIENT_TTL_MS);
    expect(d.flows(4)).toMatchObject([{ reset: true, outcome: 'reset' }]);
    expect(d.observedClients(3 + CLIENT_TTL_MS).size).toBe(0);
  });

  it('counts each client once however often it is verified, and forgets the aged ones from the total', () => {
    const vips = Array.from({ length: 17 }, (_, i) => `10.9.0.${i + 1}`);
    const m = new FlowMatcher({ vips, ifname: (i) => NAMES[i] ?? null, capacity: 10_000 });
    for (let k = 0; k < 10; k++) handshake(m, '198.51.100.1', k, c4(vips[0]!), 1000 + k);
    let ts = 10;
    for (const vip of vips.slice(1, 16)) for (let i = 0; i < 64; i++) handshake(m, `198.51.${i}.${vips.indexOf(vip)}`, ts++, c4(vip));
    for (let i = 0; i < 63; i++) handshake(m, `198.51.${i}.16`, ts++, c4(vips[16]!));
    expect(total(m)).toBe(MAX_CLIENTS);
    expect(m.observedClients().get(vips[0]!)).toEqual(['198.51.100.1']);
    // All aged out, then as many again: none forgotten for room.
    m.expire(ts + CLIENT_TTL_MS);
    expect(total(m)).toBe(0);
    const later = ts + CLIENT_TTL_MS;
    for (const vip of vips.slice(0, 16)) for (let i = 0; i < 64; i++) handshake(m, `198.52.${i}.${vips.indexOf(vip)}`, later, c4(vip));
    expect(total(m)).toBe(MAX_CLIENTS);
    expect(m.observedClients().get(vips[0]!)!.length).toBe(64);
  });

  it('a VIP whose only client is the oldest of all keeps its new client when the total is full', () => {
    const vips = Array.from({ length: 17 }, (_, i) => `10.9.0.${i + 1}`);
    const m = new FlowMatcher({ vips, ifname: (i) => NAMES[i] ?? null, capacity: 10_000 });
    handshake(m, '198.51.100.1', 1, c4(vips[0]!));
    let ts = 2;
    for (const vip of vips.slice(1, 16)) for (let i = 0; i < 64; i++) handshake(m, `198.51.${i}.${vips.indexOf(vip)}`, ts++, c4(vip));
    for (let i = 0; i < 63; i++) handshake(m, `198.51.${i}.16`, ts++, c4(vips[16]!));
    expect(total(m)).toBe(MAX_CLIENTS);
    handshake(m, '198.51.100.2', ts, c4(vips[0]!));
    expect(m.observedClients().get(vips[0]!)).toEqual(['198.51.100.2']);
    expect(total(m)).toBe(MAX_CLIENTS);
  });

  it('adds only SYNs beyond the first to the retransmitted count, for flows with none too', () => {
    const m = matcher();
    m.observeV4(c4('203.0.113.2'), VIP_N, UDP, 1000, 53, 0, 3, false, 0);
    v4(m).req(ACK, 3, 0);
    v4(m, '203.0.113.3').req(SYN, 3, 0);
    v4(m, '203.0.113.3').req(SYN, 3, 1);
    expect(m.tally(10).get(VIP)!.retransmittedSyns).toBe(1);
    expect(m.openTally(10).get(VIP)!.retransmittedSyns).toBe(1);
  });

  it('after refreshInterfaces, the next packet is named afresh even on index 1', () => {
    const m = new FlowMatcher({ vips: [VIP], ifname: (i) => `x${i}` });
    v4(m, '203.0.113.1').req(SYN, 3, 0);
    m.refreshInterfaces();
    v4(m, '203.0.113.2').req(SYN, 1, 0);
    expect(m.tally(0).get(VIP)!.ingressPackets).toEqual({ x3: 1, x1: 1 });
  });
});
