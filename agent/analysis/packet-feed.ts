// One captured frame into the flow matcher, the same way offline (analyze) and live (serve).

import { fastPathV4 } from '../decoders/fast-path.js';
import { decodePacket, type PacketSummary } from '../decoders/packet.js';
import type { FlowMatcher } from './flow-matcher.js';
import type { ArpWatch } from './l2-evidence.js';

/**
 * The allocation-free fast path when it applies, else the general decoders; decode failures counted by
 * "layer:reason". `adjust` may fill in what the link layer lacked (pcapng interfaces). Returns whether the
 * packet carried an interface, or null when it could not be decoded.
 */
export function feedPacket(matcher: FlowMatcher, failures: Record<string, number>, linktype: number, b: Buffer, off: number, caplen: number, ts: number, adjust?: (d: PacketSummary) => void, arp?: ArpWatch): boolean | null {
  if (fastPathV4(linktype, b, off, caplen, matcher, ts)) return true;
  const d = decodePacket(linktype, b, off, caplen);
  if (!d.ok) {
    const k = `${d.layer}:${d.reason}`;
    failures[k] = (failures[k] ?? 0) + 1;
    return null;
  }
  adjust?.(d);
  if (d.kind === 'arp') arp?.observe(d, ts);
  matcher.observe(d, ts);
  return d.ifindex !== null;
}
