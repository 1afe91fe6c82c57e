// One captured frame into the flow matcher, the same way offline (analyze) and live (serve).

import { fastPathV4, sll2V4TcpHasPort } from '../decoders/fast-path.js';
import { decodePacket, type PacketSummary } from '../decoders/packet.js';
import type { FlowMatcher } from './flow-matcher.js';
import { BGP_PORT, type BgpTracker } from './bgp.js';
import type { ArpWatch } from './l2-evidence.js';

export interface FeedExtras {
  /** fills in what the link layer lacked (pcapng interfaces) */
  adjust?: (d: PacketSummary) => void;
  arp?: ArpWatch | null;
  bgp?: BgpTracker | null;
}

/**
 * The allocation-free fast path when it applies, else the general decoders; decode failures counted by
 * "layer:reason". ARP goes to the ARP watch, TCP port 179 to the BGP tracker (never through the fast path). Returns
 * whether the packet carried an interface, or null when it could not be decoded.
 */
export function feedPacket(matcher: FlowMatcher, failures: Record<string, number>, linktype: number, b: Buffer, off: number, caplen: number, ts: number, extras: FeedExtras = {}): boolean | null {
  const { adjust, arp, bgp } = extras;
  if (!(bgp && sll2V4TcpHasPort(linktype, b, off, caplen, BGP_PORT)) && fastPathV4(linktype, b, off, caplen, matcher, ts)) return true;
  const d = decodePacket(linktype, b, off, caplen);
  if (!d.ok) {
    const k = `${d.layer}:${d.reason}`;
    failures[k] = (failures[k] ?? 0) + 1;
    return null;
  }
  adjust?.(d);
  if (d.kind === 'arp' || d.ndp) arp?.observe(d, ts);
  else if (bgp && (d.sport === BGP_PORT || d.dport === BGP_PORT)) bgp.observe(d, ts);
  matcher.observe(d, ts);
  return d.ifindex !== null;
}
