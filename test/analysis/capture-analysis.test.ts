// analyzeCapture on hand-built captures: which SYNs make a VIP when none is given, pcapng interfaces that carry no
// index (one Ethernet interface per link, named in its IDB), link types, the end-of-file cut-off, flow samples and
// the interface-less capture.

import { describe, expect, it } from 'vitest';
import { analyzeCapture } from '../../agent/analysis/capture-analysis.js';
import { LINKTYPE } from '../../agent/decoders/link.js';
import { arpRequest, ethernet, ipv4Packet, pcapFile, sll2, tcpSegment } from '../../bench/frames.js';

const NAMES: Record<number, string> = { 2: 'eth0', 3: 'eth1' };
const ifname = (i: number) => NAMES[i] ?? null;
const SYN = 0x02;
const SYNACK = 0x12;
const ACK = 0x10;

const tcp = (src: string, dst: string, sport: number, dport: number, flags: number) =>
  ipv4Packet(src, dst, 6, tcpSegment({ src, dst, sport, dport, flags }));
const udp = (src: string, dst: string) => ipv4Packet(src, dst, 17, [0x13, 0x88, 0, 53, 0, 8, 0, 0]);

async function* once(b: Buffer): AsyncIterable<Buffer> {
  yield b;
}
const source = (b: Buffer) => () => once(b);

// pcapng (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-03.html): SHB, one IDB per named interface
// (if_name, option 2), then EPBs (microsecond timestamps, the default if_tsresol).
function pcapng(linktype: number, names: string[], packets: Array<{ iface: number; data: number[] }>): Buffer {
  const block = (type: number, body: Buffer) => {
    const len = 12 + body.length;
    const b = Buffer.alloc(len);
    b.writeUInt32LE(type, 0);
    b.writeUInt32LE(len, 4);
    body.copy(b, 8);
    b.writeUInt32LE(len, len - 4);
    return b;
  };
  const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
  const shb = Buffer.alloc(16);
  shb.writeUInt32LE(0x1a2b3c4d, 0);
  shb.writeUInt16LE(1, 4);
  shb.writeUInt16LE(0, 6);
  shb.writeBigInt64LE(-1n, 8);
  const parts = [block(0x0a0d0d0a, shb)];
  for (const n of names) {
    const head = Buffer.alloc(8);
    head.writeUInt16LE(linktype, 0);
    head.writeUInt32LE(262144, 4);
    const opt = Buffer.alloc(4);
    opt.writeUInt16LE(2, 0);
    opt.writeUInt16LE(n.length, 2);
    parts.push(block(1, Buffer.concat([head, opt, pad(Buffer.from(n)), Buffer.alloc(4)])));
  }
  packets.forEach((p, i) => {
    const us = BigInt(1_700_000_000 + i) * 1_000_000n;
    const head = Buffer.alloc(20);
    head.writeUInt32LE(p.iface, 0);
    head.writeUInt32LE(Number(us >> 32n), 4);
    head.writeUInt32LE(Number(us & 0xffffffffn), 8);
    head.writeUInt32LE(p.data.length, 12);
    head.writeUInt32LE(p.data.length, 16);
    parts.push(block(6, Buffer.concat([head, pad(Buffer.from(p.data))])));
  });
  return Buffer.concat(parts);
}

describe('analyzeCapture: VIPs inferred from SYNs', () => {
  const A = '192.0.2.10';
  const B = '192.0.2.20';
  const frames = [
    sll2(0x0800, 3, 'host', tcp('198.51.100.9', B, 40009, 443, SYN)), // B first, once
    ...[1, 2, 3].map((i) => sll2(0x0800, 3, 'host', tcp(`198.51.100.${i}`, A, 40000 + i, 443, SYN))),
    sll2(0x0800, 2, 'outgoing', tcp(A, '198.51.100.1', 443, 40001, SYNACK)),
    // none of these makes a VIP: the host's own SYNs, SYN-ACKs and ACKs it receives, UDP, ARP, an undecodable frame
    ...[1, 2, 3, 4].map(() => sll2(0x0800, 2, 'outgoing', tcp('192.0.2.99', '203.0.113.1', 50000, 443, SYN))),
    ...[1, 2, 3, 4].map(() => sll2(0x0800, 2, 'host', tcp('203.0.113.2', '192.0.2.98', 443, 50001, SYNACK))),
    ...[1, 2, 3, 4].map(() => sll2(0x0800, 2, 'host', tcp('203.0.113.3', '192.0.2.97', 443, 50002, ACK))),
    ...[1, 2, 3, 4].map(() => sll2(0x0800, 2, 'host', udp('203.0.113.4', '192.0.2.96'))),
    sll2(0x0806, 2, 'host', arpRequest('192.0.2.1', '192.0.2.95')),
    sll2(0x0800, 2, 'host', [0x45, 0]),
  ];

  it('ranks the destinations of incoming SYNs by count', async () => {
    const a = await analyzeCapture(source(pcapFile(LINKTYPE.LINUX_SLL2, frames)), { vips: null, ifname });
    expect(a.vips).toEqual([A, B]);
    expect(a.vipsInferred).toBe(true);
    expect(a.format).toBe('pcap');
    expect(a.records).toBe(frames.length);
    expect(a.linktypes).toEqual([LINKTYPE.LINUX_SLL2]);
    expect(a.decodeFailures).toEqual({ 'ipv4:truncated': 1 });
    expect(a.interfacesKnown).toBe(true);
  });

  it('keeps the 16 most frequent', async () => {
    const many = Array.from({ length: 17 }, (_, i) =>
      Array.from({ length: i + 1 }, (__, k) => sll2(0x0800, 3, 'host', tcp('198.51.100.1', `192.0.2.${i + 1}`, 30000 + k, 80, SYN))),
    ).flat();
    const a = await analyzeCapture(source(pcapFile(LINKTYPE.LINUX_SLL2, many)), { vips: null, ifname });
    expect(a.vips).toEqual(Array.from({ length: 16 }, (_, i) => `192.0.2.${17 - i}`));
  });

  it('uses the VIPs given, and ends open flows at the end of the file', async () => {
    const a = await analyzeCapture(source(pcapFile(LINKTYPE.LINUX_SLL2, frames)), { vips: [B], ifname });
    expect(a.vips).toEqual([B]);
    expect(a.vipsInferred).toBe(false);
    expect(a.tally.get(B)?.outcomes).toMatchObject({ unanswered: 1, pending: 0 });
    expect(a.tally.get(A)).toBeUndefined();
  });
});

describe('analyzeCapture: flows', () => {
  const VIP = '192.0.2.10';
  const incident = (clients: number) =>
    Array.from({ length: clients }, (_, i) => [
      sll2(0x0800, 3, 'host', tcp(`198.51.100.${i + 1}`, VIP, 40000 + i, 443, SYN)),
      sll2(0x0800, 2, 'outgoing', tcp(VIP, `198.51.100.${i + 1}`, 443, 40000 + i, SYNACK)),
    ]).flat();

  it('samples 20 flows by default, or as many as asked', async () => {
    const file = pcapFile(LINKTYPE.LINUX_SLL2, incident(21));
    const a = await analyzeCapture(source(file), { vips: [VIP], ifname });
    expect(a.flowCount).toBe(21);
    expect(a.flows).toHaveLength(20);
    expect(a.tally.get(VIP)?.paths).toEqual({ 'eth1>eth0': 21 });
    const b = await analyzeCapture(source(file), { vips: [VIP], ifname, sampleFlows: 2 });
    expect(b.flows).toHaveLength(2);
  });

  it('counts as observed the clients of flows the VIP answered, though they never completed the handshake', async () => {
    const a = await analyzeCapture(source(pcapFile(LINKTYPE.LINUX_SLL2, incident(2))), { vips: [VIP], ifname });
    expect(a.observedClients.get(VIP)?.sort()).toEqual(['198.51.100.1', '198.51.100.2']);
    expect(a.findings.map((f) => f.type)).toEqual(['asymmetric-flows-observed']);
  });

  it('says when the capture has no interface index', async () => {
    const file = pcapFile(
      LINKTYPE.ETHERNET,
      incident(1).map((f) => ethernet(0x0800, f.slice(20))),
    );
    const a = await analyzeCapture(source(file), { vips: [VIP], ifname });
    expect(a.interfacesKnown).toBe(false);
    expect(a.linktypes).toEqual([LINKTYPE.ETHERNET]);
    expect(a.skipped['no-interface']).toBeGreaterThan(0);
    expect(a.findings.map((f) => f.type)).toEqual(['capture-without-interfaces']);
  });
});

describe('analyzeCapture: pcapng interfaces without an index', () => {
  const VIP = '192.0.2.10';
  const wrong = () => 'not-this-one';

  it('takes the interface of each record from its IDB, and the direction from the VIP', async () => {
    const file = pcapng(
      LINKTYPE.ETHERNET,
      ['eth1', 'eth0'],
      [
        { iface: 0, data: ethernet(0x0800, tcp('198.51.100.1', VIP, 40000, 443, SYN)) },
        { iface: 1, data: ethernet(0x0800, tcp(VIP, '198.51.100.1', 443, 40000, SYNACK)) },
        { iface: 0, data: ethernet(0x0800, tcp('198.51.100.2', VIP, 40001, 443, SYN)) },
        { iface: 0, data: ethernet(0x0800, tcp(VIP, '198.51.100.2', 443, 40001, SYNACK)) },
        { iface: 1, data: ethernet(0x0806, arpRequest('192.0.2.1', VIP)) },
      ],
    );
    const a = await analyzeCapture(source(file), { vips: [VIP], ifname: wrong });
    expect(a.format).toBe('pcapng');
    expect(a.interfacesKnown).toBe(true);
    expect(a.tally.get(VIP)?.paths).toEqual({ 'eth1>eth0': 1, 'eth1>eth1': 1 });
    expect(a.tally.get(VIP)?.outcomes).toMatchObject({ asymmetric: 1, symmetric: 1 });
    expect(a.flows.map((f) => [f.client, f.ingress, f.egress]).sort()).toEqual([
      ['198.51.100.1', 'eth1', 'eth0'],
      ['198.51.100.2', 'eth1', 'eth1'],
    ]);
  });

  it('leaves ARP without an interface', async () => {
    const file = pcapng(LINKTYPE.ETHERNET, ['eth1'], [{ iface: 0, data: ethernet(0x0806, arpRequest('192.0.2.1', VIP)) }]);
    const a = await analyzeCapture(source(file), { vips: [VIP], ifname: wrong });
    expect(a.records).toBe(1);
    expect(a.interfacesKnown).toBe(false);
  });
});
