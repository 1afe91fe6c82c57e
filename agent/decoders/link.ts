// Link-layer decoders: Linux cooked v2 and v1, Ethernet with 802.1Q/802.1ad tags, BSD loopback, raw IP.

import { available, fail, macText, u16, u32, u32le, u8, type Cursor, type DecodeFailure } from './cursor.js';

export const LINKTYPE = {
  NULL: 0,
  ETHERNET: 1,
  RAW: 101,
  RAW_DLT12: 12,
  RAW_DLT14: 14,
  LOOP: 108,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

/** Linux packet types (PACKET_HOST ... PACKET_OUTGOING), as SLL and SLL2 carry them. */
export type PacketDirection = 'host' | 'broadcast' | 'multicast' | 'otherhost' | 'outgoing' | 'unknown';
const PKTTYPES: PacketDirection[] = ['host', 'broadcast', 'multicast', 'otherhost', 'outgoing'];

export interface LinkInfo {
  ok: true;
  /** EtherType of the payload (0x0800 IPv4, 0x86dd IPv6, 0x0806 ARP), or -1 when the payload is not one */
  ethertype: number;
  /** where the payload starts */
  next: number;
  ifindex: number | null;
  direction: PacketDirection | null;
  srcMac: string | null;
  vlans: number[];
}

export type LinkResult = LinkInfo | DecodeFailure;

const ETHERTYPE_VLAN = new Set([0x8100, 0x88a8, 0x9100]);

// Linux "cooked" capture v2 (LINKTYPE_LINUX_SLL2, 20 bytes), https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL2.html
//  0      protocol type (EtherType)     2  reserved (MBZ)
//  4      interface index (32 bits)
//  8      ARPHRD_ type (16)   10 packet type (8)   11 link-layer address length (8)
// 12      link-layer address (8 bytes, padded)
function decodeSll2(c: Cursor): LinkResult {
  if (available(c) < 20) return fail('link', 'truncated', `SLL2 header needs 20 bytes, ${available(c)} captured`);
  const pt = u8(c, 10);
  const alen = u8(c, 11);
  return {
    ok: true,
    ethertype: u16(c, 0),
    next: c.off + 20,
    ifindex: u32(c, 4),
    direction: PKTTYPES[pt] ?? 'unknown',
    srcMac: alen === 6 ? macText(c, 12) : null,
    vlans: [],
  };
}

// Linux "cooked" capture v1 (LINKTYPE_LINUX_SLL, 16 bytes), https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL.html
//  0 packet type (16)   2 ARPHRD_ type (16)   4 link-layer address length (16)
//  6 link-layer address (8 bytes)             14 protocol type (16)
// No interface index: live evidence of ingress/egress interfaces is not available from it.
function decodeSll(c: Cursor): LinkResult {
  if (available(c) < 16) return fail('link', 'truncated', `SLL header needs 16 bytes, ${available(c)} captured`);
  const pt = u16(c, 0);
  const alen = u16(c, 4);
  const proto = u16(c, 14);
  return {
    ok: true,
    ethertype: proto >= 0x0600 ? proto : -1,
    next: c.off + 16,
    ifindex: null,
    direction: PKTTYPES[pt] ?? 'unknown',
    srcMac: alen === 6 ? macText(c, 6) : null,
    vlans: [],
  };
}

// Ethernet II (IEEE 802.3): dst MAC (6), src MAC (6), EtherType or length (2);
// 802.1Q / 802.1ad tags (IEEE 802.1Q): TPID 0x8100/0x88a8/0x9100 (2) then TCI (2: PCP 3, DEI 1, VID 12), repeated.
function decodeEthernet(c: Cursor): LinkResult {
  if (available(c) < 14) return fail('link', 'truncated', `Ethernet header needs 14 bytes, ${available(c)} captured`);
  let type = u16(c, 12);
  let next = c.off + 14;
  const vlans: number[] = [];
  while (ETHERTYPE_VLAN.has(type)) {
    if (vlans.length >= 8) return fail('link', 'malformed', 'more than 8 VLAN tags');
    if (c.end - next < 4) return fail('link', 'truncated', 'VLAN tag cut off');
    vlans.push(((c.buf[next]! << 8) | c.buf[next + 1]!) & 0x0fff);
    type = (c.buf[next + 2]! << 8) | c.buf[next + 3]!;
    next += 4;
  }
  return { ok: true, ethertype: type >= 0x0600 ? type : -1, next, ifindex: null, direction: null, srcMac: macText(c, 6), vlans };
}

// BSD loopback (LINKTYPE_NULL host byte order, LINKTYPE_LOOP network order): a 4-byte address family.
// AF_INET is 2 everywhere; AF_INET6 is 10 (Linux), 24 (NetBSD/OpenBSD), 28 (FreeBSD), 30 (macOS).
function decodeLoopback(c: Cursor, networkOrder: boolean): LinkResult {
  if (available(c) < 4) return fail('link', 'truncated', 'loopback header needs 4 bytes');
  let af = networkOrder ? u32(c, 0) : u32le(c, 0);
  if (!networkOrder && af > 0xffff) af = u32(c, 0); // written on a big-endian host
  const ethertype = af === 2 ? 0x0800 : [10, 24, 28, 30].includes(af) ? 0x86dd : -1;
  return { ok: true, ethertype, next: c.off + 4, ifindex: null, direction: null, srcMac: null, vlans: [] };
}

// Raw IP (LINKTYPE_RAW): the version nibble says which.
function decodeRaw(c: Cursor, forced?: 4 | 6): LinkResult {
  if (available(c) < 1) return fail('link', 'truncated', 'empty packet');
  const v = forced ?? u8(c, 0) >> 4;
  const ethertype = v === 4 ? 0x0800 : v === 6 ? 0x86dd : -1;
  return { ok: true, ethertype, next: c.off, ifindex: null, direction: null, srcMac: null, vlans: [] };
}

export function decodeLink(linktype: number, c: Cursor): LinkResult {
  switch (linktype) {
    case LINKTYPE.LINUX_SLL2:
      return decodeSll2(c);
    case LINKTYPE.LINUX_SLL:
      return decodeSll(c);
    case LINKTYPE.ETHERNET:
      return decodeEthernet(c);
    case LINKTYPE.RAW:
    case LINKTYPE.RAW_DLT12:
    case LINKTYPE.RAW_DLT14:
      return decodeRaw(c);
    case LINKTYPE.IPV4:
      return decodeRaw(c, 4);
    case LINKTYPE.IPV6:
      return decodeRaw(c, 6);
    case LINKTYPE.NULL:
      return decodeLoopback(c, false);
    case LINKTYPE.LOOP:
      return decodeLoopback(c, true);
    default:
      return fail('link', 'unsupported', `link type ${linktype}`);
  }
}
