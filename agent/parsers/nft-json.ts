// `nft -j list ruleset` to normalised chains. Tables that iptables-nft owns (ip/ip6 filter, nat, mangle, raw,
// security) are skipped here: their xt expressions carry no options in JSON, so they are read from iptables-save.
// Expressions the evaluator does not read become `unsupported`, never silently true or false.

import type { NfAction, NfChain, NfMatch, NfRule } from '../model/netfilter.js';

export const XTABLES_TABLES = new Set(['filter', 'nat', 'mangle', 'raw', 'security']);

type J = Record<string, unknown>;
// JSON.stringify gives undefined for undefined: text for the report either way.
const brief = (v: unknown, n: number): string => (JSON.stringify(v) ?? String(v)).slice(0, n);
const isObj = (v: unknown): v is J => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface NftParse {
  chains: NfChain[];
  /** iptables-nft tables seen (read through iptables-save instead) */
  xtablesTables: string[];
}

export function parseNftJson(doc: unknown): NftParse | { error: string } {
  if (!isObj(doc) || !Array.isArray(doc['nftables'])) return { error: 'not an nft -j document (no "nftables" array)' };
  const chains = new Map<string, NfChain>();
  const xt = new Set<string>();
  const key = (family: string, table: string, name: string) => `${family}/${table}/${name}`;
  for (const item of doc['nftables'] as unknown[]) {
    if (!isObj(item)) continue;
    const c = item['chain'];
    if (isObj(c)) {
      const family = String(c['family']);
      const table = String(c['table']);
      if (family !== 'ip' && family !== 'ip6' && family !== 'inet') continue;
      if (family !== 'inet' && XTABLES_TABLES.has(table)) {
        xt.add(`${family} ${table}`);
        continue;
      }
      chains.set(key(family, table, String(c['name'])), {
        origin: 'nft',
        family,
        table,
        name: String(c['name']),
        hook: typeof c['hook'] === 'string' ? c['hook'] : null,
        priority: typeof c['prio'] === 'number' ? c['prio'] : null,
        type: typeof c['type'] === 'string' ? c['type'] : null,
        rules: [],
      });
    }
    const r = item['rule'];
    if (isObj(r)) {
      const ch = chains.get(key(String(r['family']), String(r['table']), String(r['chain'])));
      if (ch && Array.isArray(r['expr'])) ch.rules.push(parseNftRule(r['expr'] as unknown[]));
    }
  }
  return { chains: [...chains.values()], xtablesTables: [...xt].sort() };
}

function parseNftRule(exprs: unknown[]): NfRule {
  const matches: NfMatch[] = [];
  let action: NfAction = { kind: 'continue' };
  const text: string[] = [];
  for (const e of exprs) {
    if (!isObj(e)) continue;
    const [k] = Object.keys(e);
    const v = e[k!];
    text.push(k!);
    switch (k) {
      case 'match':
        matches.push(nftMatch(v));
        break;
      case 'counter':
      case 'log':
      case 'notrack':
        break;
      case 'accept':
      case 'drop':
      case 'return':
        action = { kind: k };
        break;
      case 'reject':
        action = { kind: 'drop' };
        break;
      case 'jump':
      case 'goto':
        action = isObj(v) && typeof v['target'] === 'string' ? { kind: k, chain: v['target'] } : { kind: 'unsupported', text: k };
        break;
      case 'mangle':
        action = nftMangle(v);
        break;
      case 'dnat': {
        const addr = isObj(v) ? v['addr'] : undefined;
        const port = isObj(v) ? v['port'] : undefined;
        action =
          typeof addr === 'string' && (port === undefined || typeof port === 'number')
            ? { kind: 'dnat', addr, port: port ?? null }
            : { kind: 'unsupported', text: 'dnat to a map' };
        break;
      }
      default:
        // vmap, sets, limits, quotas, meters...: the rule's effect is not read
        action = { kind: 'unsupported', text: k! };
    }
  }
  return { matches, action, text: text.join(' ') };
}

function nftMatch(v: unknown): NfMatch {
  if (!isObj(v)) return { kind: 'unsupported', text: 'match' };
  const op = v['op'];
  const left = v['left'];
  const right = v['right'];
  const negate = op === '!=';
  if (op !== '==' && op !== '!=' && op !== 'in') return { kind: 'unsupported', text: `match op ${String(op)}` };
  if (isObj(left) && isObj(left['meta'])) {
    const key = (left['meta'] as J)['key'];
    if ((key === 'iifname' || key === 'oifname') && typeof right === 'string')
      return { kind: key === 'iifname' ? 'iif' : 'oif', name: right.replace(/\*$/, '+'), negate };
    if (key === 'mark' && typeof right === 'number') return { kind: 'mark', value: right, mask: 0xffffffff, negate };
    if (key === 'l4proto' && typeof right === 'string') return { kind: 'proto', proto: right, negate };
  }
  if (isObj(left) && isObj(left['ct'])) {
    const key = (left['ct'] as J)['key'];
    if (key === 'state') {
      const states =
        typeof right === 'string' ? [right] : Array.isArray(right) ? right.filter((s): s is string => typeof s === 'string') : null;
      if (states) return { kind: 'ctstate', states, negate };
    }
    if (key === 'mark' && typeof right === 'number') return { kind: 'ctmark', value: right, mask: 0xffffffff, negate };
  }
  if (isObj(left) && Array.isArray(left['&']) && typeof right === 'number') {
    const [inner, mask] = left['&'] as unknown[];
    if (typeof mask === 'number' && isObj(inner)) {
      if (isObj(inner['meta']) && (inner['meta'] as J)['key'] === 'mark') return { kind: 'mark', value: right, mask, negate };
      if (isObj(inner['ct']) && (inner['ct'] as J)['key'] === 'mark') return { kind: 'ctmark', value: right, mask, negate };
    }
  }
  if (isObj(left) && isObj(left['payload'])) {
    const p = left['payload'] as J;
    const field = p['field'];
    if ((field === 'saddr' || field === 'daddr') && (p['protocol'] === 'ip' || p['protocol'] === 'ip6')) {
      const prefix =
        typeof right === 'string'
          ? right
          : isObj(right) && isObj(right['prefix'])
            ? `${String((right['prefix'] as J)['addr'])}/${String((right['prefix'] as J)['len'])}`
            : null;
      if (prefix) return { kind: field, prefix, negate };
    }
    if ((field === 'sport' || field === 'dport') && typeof p['protocol'] === 'string') {
      const range = isObj(right) && Array.isArray(right['range']) ? (right['range'] as unknown[]) : null;
      const port =
        typeof right === 'number'
          ? { lo: right, hi: right }
          : range && typeof range[0] === 'number' && typeof range[1] === 'number'
            ? { lo: range[0], hi: range[1] }
            : null;
      if (port) return { kind: field, ...port, negate };
    }
  }
  return { kind: 'unsupported', text: brief(left, 80) };
}

function nftMangle(v: unknown): NfAction {
  if (!isObj(v) || !isObj(v['key'])) return { kind: 'unsupported', text: 'mangle' };
  const key = v['key'] as J;
  const value = v['value'];
  const target =
    isObj(key['meta']) && (key['meta'] as J)['key'] === 'mark'
      ? 'mark'
      : isObj(key['ct']) && (key['ct'] as J)['key'] === 'mark'
        ? 'ctmark'
        : null;
  if (target === null) return { kind: 'continue' };
  if (typeof value === 'number')
    return target === 'mark' ? { kind: 'mark-set', value, mask: 0xffffffff } : { kind: 'ctmark-set', value, mask: 0xffffffff };
  if (isObj(value) && target === 'mark' && isObj(value['ct']) && (value['ct'] as J)['key'] === 'mark')
    return { kind: 'restore', nfmask: 0xffffffff, ctmask: 0xffffffff };
  if (isObj(value) && target === 'ctmark' && isObj(value['meta']) && (value['meta'] as J)['key'] === 'mark')
    return { kind: 'save', nfmask: 0xffffffff, ctmask: 0xffffffff };
  return { kind: 'unsupported', text: `${target} set ${brief(value, 60)}` };
}
