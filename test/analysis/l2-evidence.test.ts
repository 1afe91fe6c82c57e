// ARP evidence per VIP: each packet's role, then the findings a window of them makes.

import { describe, expect, it } from 'vitest';
import type { PacketDirection } from '../../agent/decoders/link.js';
import type { PacketSummary } from '../../agent/decoders/packet.js';
import { neighbourFindings, NeighbourWatch } from '../../agent/l2/neighbour-watch.js';
import { summary } from '../helpers/packet-summary.js';

const VIP = '192.168.1.240';
const NODE_MAC = '02:00:00:00:00:0a';
const OTHER_MAC = '02:00:00:00:00:0b';

function arp(
  op: number,
  senderIp: string,
  targetIp: string,
  senderMac: string,
  direction: PacketDirection | null,
  ifindex: number | null = 3,
): PacketSummary {
  return summary({
    ifindex,
    direction,
    srcMac: senderMac,
    kind: 'arp',
    arp: { ok: true, op, senderMac, senderIp, targetMac: '00:00:00:00:00:00', targetIp },
  });
}

const VIP6 = '2001:db8::240';

function ndp(
  type: 135 | 136,
  src: string,
  target: string,
  mac: string | null,
  direction: PacketDirection,
  solicited = false,
  frameMac: string | null = null,
): PacketSummary {
  return summary({
    ifindex: 3,
    direction,
    srcMac: frameMac,
    family: 6,
    src,
    dst: 'ff02::1',
    proto: 58,
    ndp: { ok: true, type, target, router: false, solicited, override: type === 136, lla: mac },
  });
}

const watch = () => new NeighbourWatch({ vips: [VIP, VIP6], ifname: (i) => (i === 3 ? 'eth1' : null), windowMs: 60_000 });

describe('NeighbourWatch.observe', () => {
  it.each([
    ['who-has for the VIP, broadcast', arp(1, '192.168.1.50', VIP, '02:aa:00:00:00:01', 'broadcast'), 'request'],
    ['our reply', arp(2, VIP, '192.168.1.50', NODE_MAC, 'outgoing'), 'reply-sent'],
    ['another host claims it', arp(2, VIP, '192.168.1.50', OTHER_MAC, 'host'), 'claim-seen'],
    ['our gratuitous announcement', arp(1, VIP, VIP, NODE_MAC, 'outgoing'), 'announce-sent'],
    ["someone else's gratuitous reply", arp(2, VIP, VIP, OTHER_MAC, 'broadcast'), 'announce-seen'],
    ['an RFC 5227 probe', arp(1, '0.0.0.0', VIP, OTHER_MAC, 'broadcast'), 'probe'],
    ['who-has for another address', arp(1, '192.168.1.50', '192.168.1.1', OTHER_MAC, 'broadcast'), 'not-vip'],
    ['our own who-has for the VIP (outgoing)', arp(1, '192.168.1.10', VIP, NODE_MAC, 'outgoing'), 'not-vip'],
    ['no interface index (plain Ethernet capture)', arp(1, '192.168.1.50', VIP, OTHER_MAC, null, null), 'no-interface'],
  ])('%s', (_n, pkt, role) => {
    expect(watch().observe(pkt, 1000)).toBe(role);
  });

  it.each([
    ['NDP solicitation for the VIP', ndp(135, '2001:db8::50', VIP6, OTHER_MAC, 'multicast'), 'request'],
    ['NDP duplicate address detection', ndp(135, '::', VIP6, null, 'multicast'), 'probe'],
    ['our solicited advertisement', ndp(136, VIP6, VIP6, NODE_MAC, 'outgoing', true), 'reply-sent'],
    ["another host's solicited advertisement", ndp(136, 'fe80::b', VIP6, OTHER_MAC, 'host', true), 'claim-seen'],
    ['an unsolicited advertisement (failover)', ndp(136, 'fe80::b', VIP6, OTHER_MAC, 'multicast'), 'announce-seen'],
    [
      "an advertisement without the target link-layer option (the frame's MAC owns it)",
      ndp(136, 'fe80::b', VIP6, null, 'multicast', false, OTHER_MAC),
      'announce-seen',
    ],
    ['a solicitation for another address', ndp(135, '2001:db8::50', '2001:db8::1', OTHER_MAC, 'multicast'), 'not-vip'],
  ])('%s', (_n, pkt, role) => {
    expect(watch().observe(pkt, 1000)).toBe(role);
  });

  it('NDP claims from two MACs make a conflict, the frame MAC standing in for a missing option', () => {
    const w = watch();
    w.observe(ndp(136, VIP6, VIP6, NODE_MAC, 'outgoing', true), 1000);
    w.observe(ndp(136, 'fe80::b', VIP6, null, 'multicast', false, OTHER_MAC), 1001);
    expect(neighbourFindings(w.view(2000), w.retries).map((f) => [f.type, f.vip])).toEqual([['vip-arp-conflict', VIP6]]);
  });

  it('ignores IP packets', () => {
    expect(watch().observe({ ...arp(1, '1.1.1.1', VIP, OTHER_MAC, 'host'), kind: 'ip', arp: null }, 0)).toBeNull();
  });
});

function findings(
  events: Array<[number, PacketSummary]>,
  now: number,
  announcedBy?: { here: boolean; nodes: string[]; by?: 'MetalLB' | 'kube-vip' },
) {
  const w = watch();
  for (const [t, p] of events) w.observe(p, t);
  return { w, f: neighbourFindings(w.view(now), w.retries, { announcedBy: () => announcedBy ?? null }) };
}

const ask = (t: number, who = '192.168.1.50'): [number, PacketSummary] => [t, arp(1, who, VIP, '02:aa:00:00:00:01', 'broadcast')];

describe('neighbourFindings', () => {
  it('a requester retrying with no answer and no claim: vip-arp-unanswered, naming the announcing node when known', () => {
    const { f, w } = findings([ask(1000), ask(2000), ask(3000), ask(3500, '192.168.1.51')], 4000, { here: false, nodes: ['node-b'] });
    expect(f.map((x) => x.type)).toEqual(['vip-arp-unanswered']);
    expect(f[0]!.summary).toBe(
      '192.168.1.240: 1 of 2 hosts keep asking who has it (ARP on eth1) and nobody answers: this node sent no reply and no other MAC announced it; MetalLB says node-b announces it: is that node up, and its speaker?',
    );
    expect(f[0]!.ingress).toBe('eth1');
    expect(w.counters.get(`${VIP}|eth1`)).toMatchObject({ requests: 4, repliesSent: 0 });
  });

  it("names kube-vip's holder when kube-vip holds the VIP", () => {
    const events = [ask(1000), ask(2000), ask(3000)];
    expect(findings(events, 4000, { here: false, nodes: ['node-c'], by: 'kube-vip' }).f[0]!.summary).toMatch(
      /; kube-vip says node-c holds it: is that node up, and its kube-vip pod\?$/,
    );
    expect(findings(events, 4000, { here: true, nodes: ['node-a'], by: 'kube-vip' }).f[0]!.summary).toMatch(
      /; kube-vip says this node holds it: is its kube-vip pod running, in ARP mode\?$/,
    );
  });

  it.each([
    ['one request per host (answered elsewhere, unicast we do not see)', [ask(1000), ask(2000, '192.168.1.51'), ask(3000, '192.168.1.52')]],
    ['this node answers', [ask(1000), ask(2000), ask(3000), [3001, arp(2, VIP, '192.168.1.50', NODE_MAC, 'outgoing')]]],
    ['another MAC announced it', [ask(1000), ask(2000), ask(3000), [500, arp(2, VIP, VIP, OTHER_MAC, 'broadcast')]]],
    ['the retries are older than the window', [ask(1000), ask(2000), ask(3000)]],
  ] as Array<[string, Array<[number, PacketSummary]>]>)('no finding when %s', (name, events) => {
    const now = name.includes('older') ? 70_000 : 4000;
    expect(findings(events, now).f).toEqual([]);
  });

  it('two MACs claiming the VIP: vip-arp-conflict listing both, ours marked', () => {
    const { f, w } = findings(
      [
        [1000, arp(2, VIP, '192.168.1.50', NODE_MAC, 'outgoing')],
        [1500, arp(2, VIP, VIP, OTHER_MAC, 'broadcast')],
      ],
      2000,
    );
    expect(f.map((x) => x.type)).toEqual(['vip-arp-conflict']);
    expect(f[0]!.summary).toBe(`${VIP}: 2 MACs claim it: ${NODE_MAC} (this node, eth1), ${OTHER_MAC} (seen on eth1)`);
    expect(w.view(2000).find((v) => v.vip === VIP)!.owners).toHaveLength(2);
  });

  it('tracks the VIPs of both families, and keeps memory bounded under a request flood', () => {
    const w = watch();
    for (let i = 0; i < 5000; i++) w.observe(arp(1, `10.0.${i >> 8}.${i & 255}`, VIP, OTHER_MAC, 'broadcast'), 1000 + i);
    const v = w.view(7000);
    expect(v.map((x) => x.vip)).toEqual([VIP, VIP6]);
    expect(v[0]!.requesters).toBeLessThanOrEqual(256);
    expect(w.counters.get(`${VIP}|eth1`)!.requests).toBe(5000);
  });
});
