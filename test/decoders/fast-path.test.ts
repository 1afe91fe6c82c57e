// The allocation-free fast path must agree with decodePacket frame by frame on every frame it accepts, decline every
// frame the general decoders would not decode fully as SLL2/IPv4/TCP|UDP (IPv6 and other link types included), and
// leave the rest to the general path: fed the same mutated frames, two matchers end up identical.

import { expect, it } from 'vitest';
import { FlowMatcher } from '../../agent/analysis/flow-matcher.js';
import { fastPathV4 } from '../../agent/decoders/fast-path.js';
import { decodePacket } from '../../agent/decoders/packet.js';
import { LINKTYPE } from '../../agent/decoders/link.js';
import { ipv4Packet, ipv6Packet, sll2, tcpSegment } from '../../bench/frames.js';
import { prng } from '../helpers/root.js';

type Observed = [
  src: number,
  dst: number,
  proto: number,
  sport: number | null,
  dport: number | null,
  flags: number,
  ifindex: number | null,
  outgoing: boolean,
  seq: number,
  ack: number,
];

/** A stand-in that records what the fast path hands to FlowMatcher.observeV4. */
function recorder(): { calls: Observed[]; matcher: FlowMatcher } {
  const calls: Observed[] = [];
  // observeV4's arguments less the timestamp (the 9th)
  const matcher = {
    observeV4: (...a: number[]) => void calls.push([...a.slice(0, 8), a[9] ?? 0, a[10] ?? 0] as unknown as Observed),
  } as unknown as FlowMatcher;
  return { calls, matcher };
}

it('agrees with the general decoders frame by frame on mutated SLL2 IPv4 and IPv6 frames', () => {
  const r = prng(3);
  const vips = ['192.168.1.240', '2001:db8:1::240'];
  const fast = new FlowMatcher({ vips, capacity: 4096, ifname: (i) => `if${i % 8}` });
  const slow = new FlowMatcher({ vips, capacity: 4096, ifname: (i) => `if${i % 8}` });
  const rec = recorder();
  const bad: string[] = [];
  const tally = { frames: 0, mutated: 0, taken: 0, declinedDecodable: 0, v6: 0, v6Decoded: 0 };
  for (let n = 0; n < 30_000; n++) {
    const req = r() < 0.5;
    const v6 = r() < 0.25;
    const client = v6 ? `2001:db8:9::${Math.floor(r() * 8)}` : `203.0.113.${Math.floor(r() * 8)}`;
    const vip = vips[v6 ? 1 : 0]!;
    const proto = r() < 0.8 ? 6 : 17;
    const l4 =
      proto === 6
        ? tcpSegment({
            src: '',
            dst: '',
            sport: req ? 1000 + (n % 16) : 443,
            dport: req ? 443 : 1000 + (n % 16),
            flags: Math.floor(r() * 256),
            seq: Math.floor(r() * 2 ** 32),
            ack: Math.floor(r() * 2 ** 32),
          })
        : [0x03, 0xe8, 0, 53, 0, 8, 0, 0];
    const ip = (v6 ? ipv6Packet : ipv4Packet)(req ? client : vip, req ? vip : client, proto, l4);
    const frame = Buffer.from(sll2(v6 ? 0x86dd : 0x0800, 2 + Math.floor(r() * 2), req ? 'host' : 'outgoing', ip));
    // Mutate header bytes (link, IP and L4 headers), each to a different value, and sometimes cut the frame.
    const flips = Math.floor(r() * 3);
    for (let i = 0; i < flips; i++) {
      const at = Math.floor(r() * Math.min(frame.length, v6 ? 80 : 60));
      frame[at] = (frame[at]! + 1 + Math.floor(r() * 255)) % 256;
    }
    const caplen = r() < 0.2 ? Math.floor(r() * frame.length) : frame.length;
    if (flips > 0 || caplen < frame.length) tally.mutated++;
    const lt = r() < 0.05 ? LINKTYPE.ETHERNET : LINKTYPE.LINUX_SLL2;
    tally.frames++;
    if (v6) tally.v6++;

    const d = decodePacket(lt, frame, 0, caplen);
    const before = rec.calls.length;
    const took = fastPathV4(lt, frame, 0, caplen, rec.matcher, n);
    if (rec.calls.length - before !== (took ? 1 : 0))
      bad.push(`frame ${n}: returned ${took} after ${rec.calls.length - before} observeV4 calls`);
    const fullV4 = d.ok && d.kind === 'ip' && d.family === 4 && (d.proto === 6 || d.proto === 17) && d.sport !== null;
    if (took) {
      tally.taken++;
      if (!fullV4 || !d.ok)
        bad.push(`frame ${n}: taken, but the general decoders do not decode it fully: ${frame.subarray(0, caplen).toString('hex')}`);
      else {
        const want: Observed = [
          d.src4!,
          d.dst4!,
          d.proto!,
          d.sport,
          d.dport,
          d.tcpFlags ?? 0,
          d.ifindex,
          d.direction === 'outgoing',
          d.tcpSeq ?? 0,
          d.tcpAck ?? 0,
        ];
        const got = rec.calls.at(-1)!;
        if (want.some((v, i) => v !== got[i]))
          bad.push(
            `frame ${n}: fast ${JSON.stringify(got)}, general ${JSON.stringify(want)}: ${frame.subarray(0, caplen).toString('hex')}`,
          );
      }
    } else if (fullV4 && lt === LINKTYPE.LINUX_SLL2) tally.declinedDecodable++;
    if (v6 && d.ok && d.kind === 'ip') tally.v6Decoded++;

    if (!fastPathV4(lt, frame, 0, caplen, fast, n) && d.ok) fast.observe(d, n);
    if (d.ok) slow.observe(d, n);
  }
  expect(bad.slice(0, 10)).toEqual([]);
  // What the generator covered: mostly mutated frames, most IPv4 ones taken, IPv6 ones decoded by the general path.
  expect(tally.mutated / tally.frames).toBeGreaterThan(0.6);
  expect(tally.taken).toBeGreaterThan(10_000);
  expect(tally.v6Decoded).toBeGreaterThan(2_000);
  // The fast path declines only frames outside its scope (IP options are taken too), so few fully decodable ones.
  expect(tally.declinedDecodable).toBeLessThan(tally.taken / 20);
  expect(fast.skipped).toEqual(slow.skipped);
  expect(fast.tally(1e12)).toEqual(slow.tally(1e12));
  expect(fast.flows(1e12)).toEqual(slow.flows(1e12));
});
