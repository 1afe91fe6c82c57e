// `conntrack -L` text: one connection per line, the original tuple's key=value pairs first, then the reply's.
//   tcp      6 431999 ESTABLISHED src=C dst=VIP sport=P dport=443 src=POD dst=C sport=8443 dport=P [ASSURED] mark=100 use=1
// A line that does not carry both tuples is counted as malformed, never guessed.

import type { ConntrackEntry } from '../model/netfilter.js';
import { canonicalIp } from '../net/ip.js';

export interface ConntrackParse {
  entries: ConntrackEntry[];
  malformed: number;
}

export function parseConntrack(text: string, limit = Infinity): ConntrackParse {
  const entries: ConntrackEntry[] = [];
  let malformed = 0;
  for (const line of text.split('\n')) {
    if (entries.length >= limit) break;
    const t = line.trim();
    if (t === '' || t.startsWith('conntrack v')) continue;
    const e = parseLine(t);
    if (e) entries.push(e);
    else malformed++;
  }
  return { entries, malformed };
}

function parseLine(line: string): ConntrackEntry | null {
  const tok = line.split(/\s+/);
  const proto = tok[0];
  if (!proto || !/^[a-z0-9]+$/.test(proto)) return null;
  const tuples: Array<Record<string, string>> = [{}, {}];
  let which = 0;
  let state: string | null = null;
  let mark = 0;
  const flags: string[] = [];
  for (const t of tok.slice(1)) {
    const eq = t.indexOf('=');
    if (eq === -1) {
      if (/^\[[A-Z_]+\]$/.test(t)) flags.push(t.slice(1, -1));
      else if (/^[A-Z_]+$/.test(t)) state = t;
      continue;
    }
    const k = t.slice(0, eq);
    const v = t.slice(eq + 1);
    if (k === 'mark') {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) return null;
      mark = n;
      continue;
    }
    if (k !== 'src' && k !== 'dst' && k !== 'sport' && k !== 'dport') continue;
    if (k === 'src' && tuples[which]!['src'] !== undefined) which++;
    if (which > 1) return null;
    tuples[which]![k] = v;
  }
  const tuple = (x: Record<string, string>) => {
    const src = x['src'] ? canonicalIp(x['src']) : null;
    const dst = x['dst'] ? canonicalIp(x['dst']) : null;
    if (!src || !dst) return null;
    const port = (p: string | undefined) => (p !== undefined && /^[0-9]{1,5}$/.test(p) && Number(p) <= 65535 ? Number(p) : null);
    return { src, dst, sport: port(x['sport']), dport: port(x['dport']) };
  };
  const orig = tuple(tuples[0]!);
  const reply = tuple(tuples[1]!);
  if (!orig || !reply) return null;
  return { proto, state, orig, reply, mark, flags };
}
