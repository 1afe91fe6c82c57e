// Evaluates the normalised ruleset for the two questions the reply path needs: which backends a VIP is DNAT'd to,
// and which packet mark a reply carries when the kernel routes it. Where a rule that could change the answer
// cannot be read, the answer is unknown with that rule as the reason.

import type { NfAction, NfChain, NfMatch, NfOrigin, NfRule } from '../model/netfilter.js';
import { parseIp, parsePrefix, prefixContains, type Family } from '../net/ip.js';

export interface PacketContext {
  family: Family;
  hook: 'prerouting' | 'output';
  /** ingress device (prerouting); null for locally generated packets */
  iif: string | null;
  /** addresses as the hook sees them; null where the model does not know (a reply's de-SNAT happens later) */
  src: string | null;
  dst: string | null;
  proto: string;
  sport: number | null;
  dport: number | null;
  ctstate: 'new' | 'established';
  mark: number;
  ctmark: number;
}

export type MarkResult =
  | { kind: 'known'; mark: number; ctmark: number; applied: string[] }
  | { kind: 'dropped'; rule: string }
  | { kind: 'unknown'; reason: string };

const MAX_DEPTH = 32;

function familyOf(c: NfChain): Family[] {
  return c.family === 'inet' ? [4, 6] : c.family === 'ip6' ? [6] : [4];
}

/** Base chains at a hook, in the order the kernel runs them (priority; registration order for ties). */
function hookChains(chains: NfChain[], family: Family, hook: string, types: string[]): NfChain[] {
  return chains
    .map((c, i) => ({ c, i }))
    .filter(({ c }) => c.hook === hook && c.type !== null && types.includes(c.type) && familyOf(c).includes(family))
    .sort((a, b) => (a.c.priority ?? 0) - (b.c.priority ?? 0) || a.i - b.i)
    .map(({ c }) => c);
}

function matchOne(m: NfMatch, ctx: PacketContext): boolean | 'unknown' {
  const neg = (v: boolean) => ('negate' in m && m.negate ? !v : v);
  switch (m.kind) {
    case 'none':
      return true;
    case 'unsupported':
      return 'unknown';
    case 'iif':
    case 'oif': {
      const dev = m.kind === 'iif' ? ctx.iif : null;
      if (dev === null) return 'unknown';
      return neg(m.name.endsWith('+') ? dev.startsWith(m.name.slice(0, -1)) : dev === m.name);
    }
    case 'saddr':
    case 'daddr': {
      const v = m.kind === 'saddr' ? ctx.src : ctx.dst;
      const ip = v ? parseIp(v) : null;
      const p = parsePrefix(m.prefix.includes('/') ? m.prefix : `${m.prefix}/${m.prefix.includes(':') ? 128 : 32}`);
      if (!ip || !p) return 'unknown';
      return neg(p.family === ip.family && prefixContains(p, ip));
    }
    case 'proto':
      return neg(m.proto === 'all' || m.proto === ctx.proto);
    case 'sport':
    case 'dport': {
      const v = m.kind === 'sport' ? ctx.sport : ctx.dport;
      if (v === null) return 'unknown';
      return neg(v >= m.lo && v <= m.hi);
    }
    case 'ctstate':
      return neg(m.states.includes(ctx.ctstate));
    case 'mark':
    case 'ctmark': {
      const v = m.kind === 'mark' ? ctx.mark : ctx.ctmark;
      return neg((v & m.mask) >>> 0 === m.value >>> 0);
    }
  }
}

function matchRule(r: NfRule, ctx: PacketContext): boolean | 'unknown' {
  let unknown = false;
  for (const m of r.matches) {
    const v = matchOne(m, ctx);
    if (v === false) return false;
    if (v === 'unknown') unknown = true;
  }
  return unknown ? 'unknown' : true;
}

class Evaluator {
  private readonly byName = new Map<string, NfChain>();
  constructor(chains: NfChain[]) {
    for (const c of chains) this.byName.set(`${c.origin}/${c.family}/${c.table}/${c.name}`, c);
  }

  target(from: NfChain, name: string): NfChain | null {
    return this.byName.get(`${from.origin}/${from.family}/${from.table}/${name}`) ?? null;
  }

  // Could this action, taken or not, change a mark or end the chain early?
  affects(from: NfChain, a: NfAction, depth = 0): boolean {
    switch (a.kind) {
      case 'continue':
      case 'dnat':
        return false;
      case 'jump':
      case 'goto': {
        const t = this.target(from, a.chain);
        if (!t || depth > MAX_DEPTH) return true;
        return t.rules.some((r) => this.affects(t, r.action, depth + 1));
      }
      default:
        return true;
    }
  }

  // 'end': fell off the chain or returned; 'accept': this base chain is done; 'drop' ends the packet.
  run(
    chain: NfChain,
    ctx: PacketContext,
    applied: string[],
    depth: number,
  ): { end: 'end' | 'accept' } | { drop: string } | { unknown: string } {
    if (depth > MAX_DEPTH) return { unknown: `chain ${chain.name}: jumps nested deeper than ${MAX_DEPTH}` };
    for (const r of chain.rules) {
      const m = matchRule(r, ctx);
      if (m === false) continue;
      if (m === 'unknown') {
        if (this.affects(chain, r.action)) return { unknown: `${where(chain)} rule "${r.text}" uses a match the model does not evaluate` };
        continue;
      }
      const a = r.action;
      switch (a.kind) {
        case 'continue':
        case 'dnat':
          continue;
        case 'mark-set':
          ctx.mark = ((ctx.mark & ~a.mask) ^ a.value) >>> 0;
          break;
        case 'ctmark-set':
          ctx.ctmark = ((ctx.ctmark & ~a.mask) ^ a.value) >>> 0;
          break;
        case 'restore':
          ctx.mark = ((ctx.mark & ~a.nfmask) ^ (ctx.ctmark & a.ctmask)) >>> 0;
          break;
        case 'save':
          ctx.ctmark = ((ctx.ctmark & ~a.ctmask) ^ (ctx.mark & a.nfmask)) >>> 0;
          break;
        case 'accept':
          applied.push(`${where(chain)}: ${r.text}`);
          return { end: 'accept' };
        case 'drop':
          return { drop: `${where(chain)}: ${r.text}` };
        case 'return':
          return { end: 'end' };
        case 'jump':
        case 'goto': {
          const t = this.target(chain, a.chain);
          if (!t) return { unknown: `${where(chain)} jumps to ${a.chain}, which was not read` };
          const sub = this.run(t, ctx, applied, depth + 1);
          if (!('end' in sub) || sub.end === 'accept') return sub;
          if (a.kind === 'goto') return { end: 'end' };
          continue;
        }
        case 'unsupported':
          return { unknown: `${where(chain)} rule "${r.text}" has an action the model does not evaluate (${a.text})` };
      }
      applied.push(`${where(chain)}: ${r.text}`);
    }
    return { end: 'end' };
  }
}

function where(c: NfChain): string {
  return c.origin === 'nft' ? `nft ${c.family} ${c.table} ${c.name}` : `${c.origin} -t ${c.table} ${c.name}`;
}

/** The packet's mark and its connection's mark after every chain at the hook that can set them (not nat chains). */
export function evaluateMarks(chains: NfChain[], ctx0: PacketContext): MarkResult {
  const ctx = { ...ctx0 };
  const ev = new Evaluator(chains);
  const applied: string[] = [];
  for (const c of hookChains(chains, ctx.family, ctx.hook, ['filter', 'route'])) {
    const r = ev.run(c, ctx, applied, 0);
    if ('unknown' in r) return { kind: 'unknown', reason: r.unknown };
    if ('drop' in r) return { kind: 'dropped', rule: r.drop };
  }
  // nat chains see only a connection's first packet; a CONNMARK there would change the connection's mark.
  if (ctx.ctstate === 'new') {
    for (const c of hookChains(chains, ctx.family, ctx.hook, ['nat'])) {
      if (
        c.rules.some(
          (r) =>
            r.action.kind === 'ctmark-set' ||
            r.action.kind === 'save' ||
            (r.action.kind === 'unsupported' && /CONNMARK/.test(r.action.text)),
        )
      ) {
        return { kind: 'unknown', reason: `${where(c)} sets connection marks, which the model does not evaluate in nat chains` };
      }
    }
  }
  return { kind: 'known', mark: ctx.mark, ctmark: ctx.ctmark, applied };
}

/** Chains other than PREROUTING that could change a connection's mark after its first packet was received. */
export function laterConnmarkWriters(chains: NfChain[], family: Family): string[] {
  const out: string[] = [];
  for (const c of chains) {
    if (!familyOf(c).includes(family) || c.hook === 'prerouting' || c.hook === 'output') continue;
    for (const r of c.rules) if (r.action.kind === 'ctmark-set' || r.action.kind === 'save') out.push(`${where(c)}: ${r.text}`);
  }
  return out;
}

export interface DnatBackend {
  ip: string;
  port: number | null;
  /** the VIP port the path to this DNAT matched, when one did */
  vipPort: number | null;
  proto: string | null;
  /** where it was found: "iptables -t nat KUBE-SEP-X" */
  rule: string;
  /** the ruleset that holds the rule */
  origin: NfOrigin;
}

export interface BackendDiscovery {
  backends: DnatBackend[];
  /** parts of the nat ruleset that were not evaluated (nft verdict maps): backends may be missing */
  blind: string[];
}

/** DNAT targets reached from PREROUTING by a path that matched the VIP as destination. */
export function dnatBackends(chains: NfChain[], vip: string, family: Family): BackendDiscovery {
  const ev = new Evaluator(chains);
  const vipIp = parseIp(vip)!;
  const backends: DnatBackend[] = [];
  const blind: string[] = [];
  const seen = new Set<string>();
  const walk = (c: NfChain, vipMatched: boolean, port: number | null, proto: string | null, depth: number) => {
    const key = `${where(c)}|${vipMatched}|${port}`;
    if (depth > MAX_DEPTH || seen.has(key)) return;
    seen.add(key);
    for (const r of c.rules) {
      let matched = vipMatched;
      let p = port;
      let pr = proto;
      let excluded = false;
      for (const m of r.matches) {
        if (m.kind === 'daddr') {
          const pre = parsePrefix(m.prefix.includes('/') ? m.prefix : `${m.prefix}/${m.prefix.includes(':') ? 128 : 32}`);
          const inside = pre !== null && pre.family === family && prefixContains(pre, vipIp);
          if (inside === m.negate) excluded = true;
          else if (!m.negate) matched = true;
        } else if (m.kind === 'dport' && !m.negate && m.lo === m.hi) p = m.lo;
        else if (m.kind === 'proto' && !m.negate) pr = m.proto;
      }
      if (excluded) continue;
      const a = r.action;
      if (a.kind === 'dnat' && matched) {
        const ip = parseIp(a.addr);
        if (ip && ip.family === family)
          backends.push({ ip: a.addr, port: a.port, vipPort: p, proto: pr, rule: `${where(c)}: ${r.text}`, origin: c.origin });
      } else if (a.kind === 'jump' || a.kind === 'goto') {
        const t = ev.target(c, a.chain);
        if (t) walk(t, matched, p, pr, depth + 1);
      } else if (a.kind === 'unsupported' && c.origin === 'nft') {
        blind.push(`${where(c)}: ${r.text}`);
      }
    }
  };
  for (const c of hookChains(chains, family, 'prerouting', ['nat'])) walk(c, false, null, null, 0);
  const uniq = new Map<string, DnatBackend>();
  for (const b of backends) if (!uniq.has(`${b.ip}|${b.port}|${b.vipPort}`)) uniq.set(`${b.ip}|${b.port}|${b.vipPort}`, b);
  return { backends: [...uniq.values()], blind };
}
