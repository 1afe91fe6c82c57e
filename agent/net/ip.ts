// IPv4/IPv6 addresses and prefixes as bigints, so one code path serves both families.

export type Family = 4 | 6;

export interface IpAddr {
  readonly family: Family;
  readonly value: bigint;
}

export interface Prefix {
  readonly family: Family;
  readonly value: bigint; // host bits zeroed
  readonly len: number;
}

const V4_BITS = 32;
const V6_BITS = 128;

export function bitsOf(family: Family): number {
  return family === 4 ? V4_BITS : V6_BITS;
}

function parseV4(s: string): bigint | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  let v = 0n;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseV6(s: string): bigint | null {
  if (s.length > 45 || !/^[0-9a-fA-F:.]+$/.test(s)) return null;
  let head = s;
  let tail = '';
  const dbl = s.indexOf('::');
  if (dbl !== -1) {
    if (s.indexOf('::', dbl + 1) !== -1) return null;
    head = s.slice(0, dbl);
    tail = s.slice(dbl + 2);
  }
  const groups = (part: string): number[] | null => {
    if (part === '') return [];
    const out: number[] = [];
    const items = part.split(':');
    for (let i = 0; i < items.length; i++) {
      const it = items[i]!;
      if (i === items.length - 1 && it.includes('.')) {
        const v4 = parseV4(it);
        if (v4 === null) return null;
        out.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(it)) return null;
      out.push(parseInt(it, 16));
    }
    return out;
  };
  const h = groups(head);
  const t = groups(tail);
  if (h === null || t === null) return null;
  if (head.includes('.') && dbl !== -1) return null; // embedded v4 only at the very end
  let all: number[];
  if (dbl === -1) {
    if (h.length !== 8) return null;
    all = h;
  } else {
    const missing = 8 - h.length - t.length;
    if (missing < 1) return null;
    all = [...h, ...new Array<number>(missing).fill(0), ...t];
  }
  let v = 0n;
  for (const g of all) v = (v << 16n) | BigInt(g);
  return v;
}

export function parseIp(s: string): IpAddr | null {
  if (typeof s !== 'string') return null;
  if (s.includes(':')) {
    const v = parseV6(s);
    return v === null ? null : { family: 6, value: v };
  }
  const v = parseV4(s);
  return v === null ? null : { family: 4, value: v };
}

function hostMask(family: Family, len: number): bigint {
  return (1n << BigInt(bitsOf(family) - len)) - 1n;
}

export function makePrefix(ip: IpAddr, len: number): Prefix {
  const mask = hostMask(ip.family, len);
  return { family: ip.family, value: ip.value & ~mask, len };
}

// Accepts "a.b.c.d/len", a bare address (host prefix) and iproute2's "default".
export function parsePrefix(s: string, familyForDefault?: Family): Prefix | null {
  if (s === 'default' || s === 'all') {
    return familyForDefault ? { family: familyForDefault, value: 0n, len: 0 } : null;
  }
  const slash = s.indexOf('/');
  const addr = parseIp(slash === -1 ? s : s.slice(0, slash));
  if (!addr) return null;
  let len = bitsOf(addr.family);
  if (slash !== -1) {
    const l = s.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(l)) return null;
    len = Number(l);
    if (len > bitsOf(addr.family)) return null;
  }
  return makePrefix(addr, len);
}

export function prefixContains(p: Prefix, ip: IpAddr): boolean {
  if (p.family !== ip.family) return false;
  return (ip.value & ~hostMask(p.family, p.len)) === p.value;
}

export function formatIp(ip: IpAddr): string {
  if (ip.family === 4) {
    const v = ip.value;
    return [24n, 16n, 8n, 0n].map((s) => String(Number((v >> s) & 0xffn))).join('.');
  }
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((ip.value >> BigInt(i * 16)) & 0xffffn));
  return formatV6Groups(groups);
}

/** RFC 5952 text of eight 16-bit groups: the longest run (>= 2) of zero groups compressed, the first on ties. */
export function formatV6Groups(groups: number[]): string {
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestLen < 2) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

export function formatPrefix(p: Prefix): string {
  if (p.len === 0) return 'default';
  return `${formatIp({ family: p.family, value: p.value })}/${p.len}`;
}

export function ipEquals(a: IpAddr, b: IpAddr): boolean {
  return a.family === b.family && a.value === b.value;
}

/** Canonical text of an address string, or null when it is not one. */
export function canonicalIp(s: string): string | null {
  const ip = parseIp(s);
  return ip ? formatIp(ip) : null;
}

export function isLinkLocal(ip: IpAddr): boolean {
  if (ip.family === 4) return ip.value >> 16n === 0xa9fen;
  return ip.value >> 118n === 0x3fan; // fe80::/10
}

export function isLoopback(ip: IpAddr): boolean {
  if (ip.family === 4) return ip.value >> 24n === 127n;
  return ip.value === 1n;
}

export function isMulticast(ip: IpAddr): boolean {
  if (ip.family === 4) return ip.value >> 28n === 0xen;
  return ip.value >> 120n === 0xffn;
}

export function isUnspecified(ip: IpAddr): boolean {
  return ip.value === 0n;
}

/** An address inside the prefix at a given offset from its network address. */
export function addressInPrefix(p: Prefix, offset: bigint): IpAddr {
  return { family: p.family, value: p.value + (offset & hostMask(p.family, p.len)) };
}
