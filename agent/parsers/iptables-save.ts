// iptables-save text (iptables-nft or legacy) to normalised chains. Only the options that decide DNAT targets and
// marks are read; any other match becomes `unsupported` (the evaluator then says unknown where it matters), any
// other target `continue` when it cannot change a verdict or a mark, else `unsupported`.

import type { NfAction, NfChain, NfMatch, NfOrigin, NfRule } from '../model/netfilter.js';

// iptables tables as the nftables hooks and priorities they register at (NF_IP_PRI_*).
const TABLE_HOOKS: Record<string, { priority: number; type: string }> = {
  raw: { priority: -300, type: 'filter' },
  mangle: { priority: -150, type: 'filter' },
  nat: { priority: -100, type: 'nat' },
  filter: { priority: 0, type: 'filter' },
  security: { priority: 50, type: 'filter' },
};
const BUILTIN = new Set(['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING']);
// Targets that neither end the chain nor touch a mark.
const PASSIVE_TARGETS = new Set([
  'LOG',
  'NFLOG',
  'ULOG',
  'TRACE',
  'CT',
  'NOTRACK',
  'CHECKSUM',
  'TCPMSS',
  'TTL',
  'HL',
  'DSCP',
  'TOS',
  'CLASSIFY',
  'AUDIT',
  'TEE',
]);

/** Splits a rule line like a shell would for the quoting iptables-save uses ("..." with \" escapes). */
export function splitArgs(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '\\' && i + 1 < line.length) cur += line[++i]!;
      else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') {
      quoted = true;
      inWord = true;
    } else if (c === ' ' || c === '\t') {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) out.push(cur);
  return out;
}

function parseMarkMask(s: string | undefined): { value: number; mask: number } | null {
  if (!s) return null;
  const m = /^(0x[0-9a-f]+|[0-9]+)(?:\/(0x[0-9a-f]+|[0-9]+))?$/i.exec(s);
  if (!m) return null;
  const value = Number(m[1]);
  const mask = m[2] === undefined ? 0xffffffff : Number(m[2]);
  if (!Number.isInteger(value) || !Number.isInteger(mask) || value < 0 || value > 0xffffffff || mask < 0 || mask > 0xffffffff) return null;
  return { value, mask };
}

function parsePorts(s: string | undefined): { lo: number; hi: number } | null {
  const m = /^([0-9]{1,5})(?::([0-9]{1,5}))?$/.exec(s ?? '');
  if (!m) return null;
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  return lo <= hi && hi <= 65535 ? { lo, hi } : null;
}

function parseRule(args: string[], text: string): NfRule {
  const matches: NfMatch[] = [];
  let action: NfAction = { kind: 'continue' };
  let negate = false;
  let i = 0;
  const next = () => args[++i];
  const unsupported = (what: string) => matches.push({ kind: 'unsupported', text: what });
  // Per-module options are read after the module is named with -m; everything else is unsupported.
  let module: string | null = null;
  let target: string | null = null;
  const targetOpts: Record<string, string[]> = {};
  for (i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '!') {
      negate = true;
      continue;
    }
    const neg = negate;
    negate = false;
    if (target !== null) {
      if (a.startsWith('--')) {
        const vals: string[] = [];
        while (i + 1 < args.length && !args[i + 1]!.startsWith('--')) vals.push(next()!);
        targetOpts[a] = vals;
      }
      continue;
    }
    switch (a) {
      case '-A':
        next();
        break;
      case '-i':
      case '--in-interface':
        matches.push({ kind: 'iif', name: next() ?? '', negate: neg });
        break;
      case '-o':
      case '--out-interface':
        matches.push({ kind: 'oif', name: next() ?? '', negate: neg });
        break;
      case '-s':
      case '--source':
        matches.push({ kind: 'saddr', prefix: next() ?? '', negate: neg });
        break;
      case '-d':
      case '--destination':
        matches.push({ kind: 'daddr', prefix: next() ?? '', negate: neg });
        break;
      case '-p':
      case '--protocol':
        matches.push({ kind: 'proto', proto: (next() ?? '').toLowerCase(), negate: neg });
        break;
      case '-m':
      case '--match':
        module = next() ?? '';
        if (module === 'comment') {
          next(); // --comment
          next(); // its text
          module = null;
        } else if (!['tcp', 'udp', 'sctp', 'conntrack', 'mark', 'connmark', 'state'].includes(module)) {
          unsupported(`-m ${module}`);
        }
        break;
      case '-j':
      case '--jump':
      case '-g':
      case '--goto':
        target = next() ?? '';
        if (a === '-g' || a === '--goto') targetOpts['goto'] = [];
        break;
      case '-c':
        next();
        next();
        break;
      default:
        if (a === '--dport' || a === '--destination-port' || a === '--sport' || a === '--source-port') {
          const p = parsePorts(next());
          if (p && (module === 'tcp' || module === 'udp' || module === 'sctp'))
            matches.push({ kind: a.startsWith('--d') ? 'dport' : 'sport', ...p, negate: neg });
          else unsupported(`${a} ${args[i]}`);
        } else if ((a === '--ctstate' && module === 'conntrack') || (a === '--state' && module === 'state')) {
          matches.push({ kind: 'ctstate', states: (next() ?? '').toLowerCase().split(','), negate: neg });
        } else if (a === '--mark' && (module === 'mark' || module === 'connmark')) {
          const mm = parseMarkMask(next());
          if (mm) matches.push({ kind: module === 'mark' ? 'mark' : 'ctmark', ...mm, negate: neg });
          else unsupported(`--mark ${args[i]}`);
        } else if (a.startsWith('--')) {
          // an option of a module not read here (or of one that was): its values follow until the next option
          unsupported(`${module ? `-m ${module} ` : ''}${a}`);
          while (i + 1 < args.length && !args[i + 1]!.startsWith('-') && args[i + 1] !== '!') i++;
        } else {
          unsupported(a);
        }
    }
  }
  if (target !== null) action = targetAction(target, targetOpts);
  return { matches, action, text };
}

function targetAction(target: string, o: Record<string, string[]>): NfAction {
  const one = (k: string) => o[k]?.[0];
  switch (target) {
    case 'ACCEPT':
      return { kind: 'accept' };
    case 'DROP':
    case 'REJECT':
      return { kind: 'drop' };
    case 'RETURN':
      return { kind: 'return' };
    case 'MARK': {
      const x = parseMarkMask(one('--set-xmark'));
      if (x) return { kind: 'mark-set', ...x };
      const s = parseMarkMask(one('--set-mark'));
      if (s) return { kind: 'mark-set', value: s.value, mask: s.mask === 0xffffffff ? 0xffffffff : s.mask };
      return { kind: 'unsupported', text: `MARK ${Object.keys(o).join(' ')}` };
    }
    case 'CONNMARK': {
      const x = parseMarkMask(one('--set-xmark') ?? one('--set-mark'));
      if (x) return { kind: 'ctmark-set', ...x };
      const nf = parseMarkMask(one('--nfmask'))?.value ?? 0xffffffff;
      const ct = parseMarkMask(one('--ctmask'))?.value ?? 0xffffffff;
      const mask = parseMarkMask(one('--mask'))?.value;
      if ('--restore-mark' in o) return { kind: 'restore', nfmask: mask ?? nf, ctmask: mask ?? ct };
      if ('--save-mark' in o) return { kind: 'save', nfmask: mask ?? nf, ctmask: mask ?? ct };
      return { kind: 'unsupported', text: `CONNMARK ${Object.keys(o).join(' ')}` };
    }
    case 'DNAT': {
      const to = one('--to-destination');
      const m = to ? /^(\[?[0-9a-fA-F:.]+?\]?)(?::([0-9]{1,5}))?$/.exec(to) : null;
      if (!m) return { kind: 'unsupported', text: `DNAT ${to ?? ''}` };
      const addr = m[1]!.replace(/^\[|\]$/g, '');
      return { kind: 'dnat', addr, port: m[2] === undefined ? null : Number(m[2]) };
    }
    default:
      if (PASSIVE_TARGETS.has(target)) return { kind: 'continue' };
      if (/^[A-Z]+$/.test(target) && target !== target.toLowerCase()) return { kind: 'unsupported', text: target };
      return 'goto' in o ? { kind: 'goto', chain: target } : { kind: 'jump', chain: target };
  }
}

/** Chains from one `iptables-save` / `ip6tables-save` output; user chains whose names are all capitals are still chains. */
export function parseIptablesSave(text: string, origin: NfOrigin): NfChain[] {
  const chains = new Map<string, NfChain>();
  const family = origin.startsWith('ip6') ? 'ip6' : 'ip';
  let table: string | null = null;
  const chain = (name: string): NfChain => {
    const key = `${table}/${name}`;
    let c = chains.get(key);
    if (!c) {
      const h = BUILTIN.has(name) ? TABLE_HOOKS[table!] : undefined;
      c = {
        origin,
        family,
        table: table!,
        name,
        hook: h ? name.toLowerCase() : null,
        priority: h?.priority ?? null,
        type: h?.type ?? null,
        rules: [],
      };
      chains.set(key, c);
    }
    return c;
  };
  const userChains = new Set<string>();
  const pending: Array<{ table: string; chain: string; args: string[]; line: string }> = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line === 'COMMIT') continue;
    if (line.startsWith('*')) {
      table = line.slice(1);
      continue;
    }
    if (table === null) continue;
    if (line.startsWith(':')) {
      const name = line.slice(1).split(' ')[0]!;
      chain(name);
      if (!BUILTIN.has(name)) userChains.add(`${table}/${name}`);
      continue;
    }
    if (line.startsWith('-A ')) {
      const args = splitArgs(line);
      pending.push({ table, chain: args[1] ?? '', args, line });
    }
  }
  for (const p of pending) {
    table = p.table;
    const rule = parseRule(p.args, p.line);
    // A capitalised target that names a user chain of this table is a jump, not an unknown target.
    if (rule.action.kind === 'unsupported' && userChains.has(`${p.table}/${rule.action.text}`)) {
      rule.action =
        p.args.includes('-g') || p.args.includes('--goto')
          ? { kind: 'goto', chain: rule.action.text }
          : { kind: 'jump', chain: rule.action.text };
    }
    chain(p.chain).rules.push(rule);
  }
  return [...chains.values()];
}
