// One captured frame into the flow matcher, the same way offline (analyze) and live (serve).

import { fastPathV4, sll2V4TcpHasPort } from '../decoders/fast-path.js';
import { decodePacket, type PacketSummary } from '../decoders/packet.js';
import type { FlowMatcher } from './flow-matcher.js';

/** Where a monitor takes the decoded packets it cares about (ARP/NDP, BGP). */
export interface PacketTap {
  observe(d: PacketSummary, ts: number): void;
}

export interface FeedExtras {
  /** fills in what the link layer lacked (pcapng interfaces) */
  adjust?: (d: PacketSummary) => void;
  /** ARP and NDP */
  arp?: PacketTap | null;
  /** TCP with `port` as source or destination (BGP) */
  bgp?: { port: number; tap: PacketTap | null } | null;
}

/** Where decode failures are counted, by layer and reason (both from the decoders' enums). */
export type DecodeFailureSink = (layer: string, reason: string) => void;

/** A sink that counts into a record keyed "layer:reason" (the analyze report's form). */
export function failureRecord(into: Record<string, number>): DecodeFailureSink {
  return (layer, reason) => {
    const k = `${layer}:${reason}`;
    into[k] = (into[k] ?? 0) + 1;
  };
}

/**
 * The allocation-free fast path when it applies, else the general decoders; decode failures go to `onFailure`. ARP and NDP go to the arp tap, TCP on the bgp port to the bgp tap (never through the fast path).
 * Returns whether the packet carried an interface, or null when it could not be decoded.
 */
export function feedPacket(
  matcher: FlowMatcher,
  onFailure: DecodeFailureSink,
  linktype: number,
  b: Buffer,
  off: number,
  caplen: number,
  ts: number,
  extras: FeedExtras = {},
): boolean | null {
  const { adjust, arp, bgp } = extras;
  if (!(bgp && sll2V4TcpHasPort(linktype, b, off, caplen, bgp.port)) && fastPathV4(linktype, b, off, caplen, matcher, ts)) return true;
  const d = decodePacket(linktype, b, off, caplen);
  if (!d.ok) {
    onFailure(d.layer, d.reason);
    return null;
  }
  adjust?.(d);
  if (d.kind === 'arp' || d.ndp) arp?.observe(d, ts);
  else if (bgp && (d.sport === bgp.port || d.dport === bgp.port)) bgp.tap?.observe(d, ts);
  matcher.observe(d, ts);
  return d.ifindex !== null;
}
