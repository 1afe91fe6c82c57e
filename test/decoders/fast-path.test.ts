// The allocation-free fast path must agree with decodePacket + FlowMatcher.observe on every frame it accepts,
// and leave the rest to the general path: fed the same mutated frames, two matchers end up identical.

import { expect, it } from 'vitest';
import { FlowMatcher } from '../../agent/analysis/flow-matcher.js';
import { fastPathV4 } from '../../agent/decoders/fast-path.js';
import { decodePacket } from '../../agent/decoders/packet.js';
import { LINKTYPE } from '../../agent/decoders/link.js';
import { ipv4Packet, sll2, tcpSegment } from '../../bench/frames.js';
import { prng } from '../helpers/root.js';

it('agrees with the general decoders on mutated SLL2/IPv4 frames', () => {
  const r = prng(3);
  const vips = ['192.168.1.240'];
  const fast = new FlowMatcher({ vips, capacity: 4096, ifname: (i) => `if${i % 8}` });
  const slow = new FlowMatcher({ vips, capacity: 4096, ifname: (i) => `if${i % 8}` });
  let taken = 0;
  for (let n = 0; n < 30_000; n++) {
    const req = r() < 0.5;
    const client = `203.0.113.${Math.floor(r() * 8)}`;
    const proto = r() < 0.8 ? 6 : 17;
    const l4 = proto === 6 ? tcpSegment({ src: '', dst: '', sport: req ? 1000 + (n % 16) : 443, dport: req ? 443 : 1000 + (n % 16), flags: Math.floor(r() * 256) }) : [0x03, 0xe8, 0, 53, 0, 8, 0, 0];
    const frame = Buffer.from(sll2(0x0800, 2 + Math.floor(r() * 2), req ? 'host' : 'outgoing', ipv4Packet(req ? client : vips[0]!, req ? vips[0]! : client, proto, l4)));
    // Mutate header bytes (link, IP and L4 headers) and sometimes cut the frame.
    const flips = Math.floor(r() * 3);
    for (let i = 0; i < flips; i++) frame[Math.floor(r() * Math.min(frame.length, 60))] = Math.floor(r() * 256);
    const caplen = r() < 0.2 ? Math.floor(r() * frame.length) : frame.length;
    const lt = r() < 0.05 ? LINKTYPE.ETHERNET : LINKTYPE.LINUX_SLL2;
    if (fastPathV4(lt, frame, 0, caplen, fast, n)) taken++;
    else {
      const d = decodePacket(lt, frame, 0, caplen);
      if (d.ok) fast.observe(d, n);
    }
    const d = decodePacket(lt, frame, 0, caplen);
    if (d.ok) slow.observe(d, n);
  }
  expect(taken).toBeGreaterThan(10_000);
  expect(fast.skipped).toEqual(slow.skipped);
  expect(fast.tally(1e12)).toEqual(slow.tally(1e12));
  expect(fast.flows(1e12)).toEqual(slow.flows(1e12));
});
