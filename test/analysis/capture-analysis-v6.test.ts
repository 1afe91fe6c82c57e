// IPv6 through the capture pipeline that analyze and serve share (pcap stream reader, packet feed, flow matcher,
// evidence findings): SYNs to an IPv6 VIP arrive on eth1, the SYN-ACKs leave on eth0, delivered in odd-sized chunks.

import { describe, expect, it } from 'vitest';
import { analyzeCapture } from '../../agent/analysis/capture-analysis.js';
import { LINKTYPE } from '../../agent/decoders/link.js';
import { ipv6Packet, pcapFile, sll2, tcpSegment } from '../../bench/frames.js';

const VIP = '2001:db8:1::240';
const NAMES: Record<number, string> = { 2: 'eth0', 3: 'eth1' };

function incident(clients: number): Buffer {
  const frames: number[][] = [];
  for (let i = 0; i < clients; i++) {
    const client = `2001:db8:9::${i + 1}`;
    const cport = 40000 + i;
    const syn = tcpSegment({ src: '', dst: '', sport: cport, dport: 443, flags: 0x02 });
    const synack = tcpSegment({ src: '', dst: '', sport: 443, dport: cport, flags: 0x12 });
    frames.push(sll2(0x86dd, 3, 'host', ipv6Packet(client, VIP, 6, syn)));
    frames.push(sll2(0x86dd, 2, 'outgoing', ipv6Packet(VIP, client, 6, synack)));
    // The client never saw the SYN-ACK: it retransmits its SYN.
    frames.push(sll2(0x86dd, 3, 'host', ipv6Packet(client, VIP, 6, syn)));
  }
  return pcapFile(LINKTYPE.LINUX_SLL2, frames);
}

async function* chunks(b: Buffer, size: number): AsyncIterable<Buffer> {
  for (let o = 0; o < b.length; o += size) yield b.subarray(o, o + size);
}

describe('IPv6 through the capture pipeline', () => {
  it.each([[7], [4096]])('finds the asymmetric IPv6 flows (chunks of %i bytes), with the VIP given or inferred', async (size) => {
    const file = incident(3);
    for (const vips of [[VIP], null]) {
      const a = await analyzeCapture(() => chunks(file, size), { vips, ifname: (i) => NAMES[i] ?? null });
      expect(a.records).toBe(9);
      expect(a.formatError).toBeNull();
      expect(a.vips).toEqual([VIP]);
      expect(a.interfacesKnown).toBe(true);
      expect(a.decodeFailures).toEqual({});
      const t = a.tally.get(VIP)!;
      expect(t.outcomes.asymmetric).toBe(3);
      expect(t.paths).toEqual({ 'eth1>eth0': 3 });
      expect(t.retransmittedSyns).toBe(3);
      expect(a.flows.map((f) => f.client).sort()).toEqual(['2001:db8:9::1', '2001:db8:9::2', '2001:db8:9::3']);
      const f = a.findings.find((x) => x.type === 'asymmetric-flows-observed');
      expect(f?.vip).toBe(VIP);
      expect(f?.summary).toMatch(/eth1.*eth0/);
    }
  });
});
