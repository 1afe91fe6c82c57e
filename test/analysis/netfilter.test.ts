// The netfilter parsers and evaluator on rulesets printed by the real tools (test/fixtures/netfilter: iptables-save
// of a kube-proxy-like ruleset with connmark routing, and nft -j of iptables-nft plus native tables), and on small
// hand-made chains for the mark arithmetic. Expected values are written out, never computed by the code under test.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { dnatBackends, evaluateMarks, type PacketContext } from '../../agent/reply-path/netfilter-eval.js';
import type { NfChain, NfRule } from '../../agent/model/netfilter.js';
import { parseConntrack } from '../../agent/parsers/conntrack.js';
import { parseIptablesSave, splitArgs } from '../../agent/parsers/iptables-save.js';
import { parseNftJson } from '../../agent/parsers/nft-json.js';

const fixture = (f: string) => readFileSync(new URL(`../fixtures/netfilter/${f}`, import.meta.url), 'utf8');
const KUBE = parseIptablesSave(fixture('kube-proxy-connmark.iptables-save'), 'iptables');
const NFT = (() => {
  const p = parseNftJson(JSON.parse(fixture('iptables-nft-and-native.nft.json')));
  if ('error' in p) throw new Error(p.error);
  return p;
})();

const ctx = (p: Partial<PacketContext>): PacketContext => ({
  family: 4,
  hook: 'prerouting',
  iif: 'eth1',
  src: '203.0.113.5',
  dst: '192.168.1.240',
  proto: 'tcp',
  sport: 40000,
  dport: 443,
  ctstate: 'new',
  mark: 0,
  ctmark: 0,
  ...p,
});

describe('iptables-save', () => {
  it('reads tables, chains, hooks and the rules that matter', () => {
    const pre = KUBE.find((c) => c.table === 'mangle' && c.name === 'PREROUTING')!;
    expect(pre).toMatchObject({ hook: 'prerouting', priority: -150, type: 'filter', origin: 'iptables', family: 'ip' });
    expect(pre.rules.map((r) => r.action)).toEqual([
      { kind: 'ctmark-set', value: 0x64, mask: 0xffffffff },
      { kind: 'restore', nfmask: 0xffffffff, ctmask: 0xffffffff },
    ]);
    expect(pre.rules[0]!.matches).toEqual([
      { kind: 'iif', name: 'eth1', negate: false },
      { kind: 'ctstate', states: ['new'], negate: false },
    ]);
    expect(pre.rules[1]!.matches).toEqual([{ kind: 'iif', name: 'eth1', negate: true }]);
    const sep = KUBE.find((c) => c.name === 'KUBE-SEP-1')!;
    expect(sep.hook).toBeNull();
    expect(sep.rules[1]!.action).toEqual({ kind: 'dnat', addr: '10.244.1.5', port: 8443 });
    const svc = KUBE.find((c) => c.name === 'KUBE-SVC-ABC')!;
    expect(svc.rules[0]!.matches).toContainEqual({ kind: 'unsupported', text: '-m statistic' });
    expect(svc.rules[0]!.action).toEqual({ kind: 'jump', chain: 'KUBE-SEP-1' });
    const post = KUBE.find((c) => c.name === 'KUBE-POSTROUTING')!;
    expect(post.rules[0]!.matches).toEqual([{ kind: 'mark', value: 0x4000, mask: 0x4000, negate: true }]);
    expect(post.rules[2]!.action).toEqual({ kind: 'unsupported', text: 'MASQUERADE' });
  });

  it('splits quoted comments like a shell', () => {
    expect(splitArgs('-A X -m comment --comment "a \\"b\\" c" -j Y')).toEqual([
      '-A',
      'X',
      '-m',
      'comment',
      '--comment',
      'a "b" c',
      '-j',
      'Y',
    ]);
  });

  it("finds the backends a VIP is DNAT'd to through kube-proxy's chains, and only those", () => {
    const d = dnatBackends(KUBE, '192.168.1.240', 4);
    expect(d.backends.map((b) => [b.ip, b.port, b.vipPort])).toEqual([
      ['10.244.1.5', 8443, 443],
      ['10.244.2.5', 8443, 443],
    ]);
    expect(d.backends.map((b) => b.origin)).toEqual(['iptables', 'iptables']);
    expect(d.backends[0]!.rule).toBe(
      'iptables -t nat KUBE-SEP-1: -A KUBE-SEP-1 -p tcp -m comment --comment "shop/web:https" -m tcp -j DNAT --to-destination 10.244.1.5:8443',
    );
    // The cluster IP reaches the same backends; another address (through the addrtype LOCAL nodeport chain) does not.
    expect(dnatBackends(KUBE, '10.96.0.20', 4).backends.map((b) => b.ip)).toEqual(['10.244.1.5', '10.244.2.5']);
    expect(dnatBackends(KUBE, '192.168.1.10', 4).backends).toEqual([]);
    expect(dnatBackends(KUBE, '192.168.1.240', 6).backends).toEqual([]);
  });
});

describe('nft -j', () => {
  it('skips the tables iptables-nft owns and reads native ones', () => {
    expect(NFT.xtablesTables).toEqual(['ip mangle', 'ip nat']);
    expect(NFT.chains.map((c) => `${c.table}/${c.name} ${c.hook ?? '-'} ${c.priority ?? '-'} ${c.type ?? '-'}`).sort()).toEqual([
      'asymroute/output output -150 route',
      'asymroute/prerouting prerouting -150 filter',
      'kube-proxy/nat-prerouting prerouting -100 nat',
      'kube-proxy/svc-web - - -',
    ]);
    const pre = NFT.chains.find((c) => c.name === 'prerouting')!;
    expect(pre.rules.map((r) => [r.matches, r.action])).toEqual([
      [
        [
          { kind: 'iif', name: 'eth1', negate: false },
          { kind: 'ctstate', states: ['new'], negate: false },
        ],
        { kind: 'ctmark-set', value: 0x64, mask: 0xffffffff },
      ],
      [[{ kind: 'iif', name: 'eth1', negate: true }], { kind: 'restore', nfmask: 0xffffffff, ctmask: 0xffffffff }],
    ]);
  });

  it('finds a native dnat, and says which verdict map it could not follow', () => {
    expect(dnatBackends(NFT.chains, '192.168.1.242', 4).backends.map((b) => [b.ip, b.port, b.vipPort, b.origin])).toEqual([
      ['10.244.4.4', 8443, 443, 'nft'],
    ]);
    const behindMap = dnatBackends(NFT.chains, '192.168.1.241', 4);
    expect(behindMap.backends).toEqual([]);
    expect(behindMap.blind).toEqual(['nft ip kube-proxy nat-prerouting: vmap']);
  });

  it('refuses what is not an nft document', () => {
    expect(parseNftJson({ foo: 1 })).toEqual({ error: 'not an nft -j document (no "nftables" array)' });
    expect(parseNftJson(null)).toEqual({ error: 'not an nft -j document (no "nftables" array)' });
  });
});

describe('marks', () => {
  it('connmark routing: NEW on eth1 marks the connection; its replies from elsewhere carry the mark, locally sent ones too', () => {
    for (const chains of [KUBE, NFT.chains]) {
      const conn = evaluateMarks(chains, ctx({}));
      expect(conn).toMatchObject({ kind: 'known', mark: 0, ctmark: 0x64 });
      const fwd = evaluateMarks(
        chains,
        ctx({ iif: 'vethpod', src: '10.244.1.5', dst: '203.0.113.5', sport: 8443, dport: null, ctstate: 'established', ctmark: 0x64 }),
      );
      expect(fwd).toMatchObject({ kind: 'known', mark: 0x64 });
      const local = evaluateMarks(
        chains,
        ctx({
          hook: 'output',
          iif: null,
          src: '192.168.1.240',
          dst: '203.0.113.5',
          sport: 443,
          dport: null,
          ctstate: 'established',
          ctmark: 0x64,
        }),
      );
      expect(local).toMatchObject({ kind: 'known', mark: 0x64 });
      // The client's own later packets arrive on eth1: never marked, so requests keep their routing.
      expect(evaluateMarks(chains, ctx({ ctstate: 'established', ctmark: 0x64 }))).toMatchObject({ kind: 'known', mark: 0 });
    }
  });

  const chain = (rules: NfRule[], extra: Partial<NfChain> = {}): NfChain => ({
    origin: 'iptables',
    family: 'ip',
    table: 'mangle',
    name: 'PREROUTING',
    hook: 'prerouting',
    priority: -150,
    type: 'filter',
    rules,
    ...extra,
  });
  const rule = (r: Partial<NfRule>): NfRule => ({ matches: [], action: { kind: 'continue' }, text: 't', ...r });

  it('applies xmark arithmetic as the kernel does', () => {
    const c = chain([
      rule({ action: { kind: 'mark-set', value: 0x5, mask: 0xf } }),
      rule({ action: { kind: 'ctmark-set', value: 0x30, mask: 0xf0 } }),
      rule({ action: { kind: 'save', nfmask: 0x0f, ctmask: 0x0f } }),
      rule({ action: { kind: 'mark-set', value: 0x100, mask: 0x0 } }),
    ]);
    // mark = (0x1234 & ~0xf) ^ 0x5 = 0x1235; ctmark = (0xabcd & ~0xf0) ^ 0x30 = 0xab3d, then save: (0xab3d & ~0xf) ^ (0x1235 & 0xf) = 0xab35;
    // a zero mask XORs: 0x1235 ^ 0x100 = 0x1335
    expect(evaluateMarks([c], ctx({ mark: 0x1234, ctmark: 0xabcd }))).toMatchObject({ kind: 'known', mark: 0x1335, ctmark: 0xab35 });
    const restore = chain([rule({ action: { kind: 'restore', nfmask: 0xff, ctmask: 0xff } })]);
    expect(evaluateMarks([restore], ctx({ mark: 0x4000, ctmark: 0x1264 }))).toMatchObject({ kind: 'known', mark: 0x4064 });
  });

  it('follows jumps, returns and gotos; ACCEPT ends only that chain', () => {
    const sub = chain(
      [
        rule({ action: { kind: 'return' }, matches: [{ kind: 'iif', name: 'eth9', negate: false }] }),
        rule({ action: { kind: 'mark-set', value: 7, mask: 0xffffffff } }),
      ],
      { name: 'SUB', hook: null, priority: null, type: null },
    );
    const base = chain([
      rule({ action: { kind: 'jump', chain: 'SUB' } }),
      rule({ action: { kind: 'accept' } }),
      rule({ action: { kind: 'mark-set', value: 9, mask: 0xffffffff } }),
    ]);
    const later = chain([rule({ action: { kind: 'ctmark-set', value: 1, mask: 0xffffffff } })], { table: 'filter', priority: 0 });
    expect(evaluateMarks([later, sub, base], ctx({}))).toMatchObject({ kind: 'known', mark: 7, ctmark: 1 });
    expect(evaluateMarks([later, sub, base], ctx({ iif: 'eth9' }))).toMatchObject({ kind: 'known', mark: 0, ctmark: 1 });
  });

  it('is unknown where an unread match guards a mark, and ignores it where it guards nothing', () => {
    const guarded = chain([
      rule({
        matches: [{ kind: 'unsupported', text: '-m statistic' }],
        action: { kind: 'mark-set', value: 1, mask: 0xffffffff },
        text: '-A PREROUTING -m statistic -j MARK',
      }),
    ]);
    expect(evaluateMarks([guarded], ctx({}))).toEqual({
      kind: 'unknown',
      reason: 'iptables -t mangle PREROUTING rule "-A PREROUTING -m statistic -j MARK" uses a match the model does not evaluate',
    });
    const passive = chain([rule({ matches: [{ kind: 'unsupported', text: '-m limit' }], action: { kind: 'continue' } })]);
    expect(evaluateMarks([passive], ctx({}))).toMatchObject({ kind: 'known', mark: 0 });
    // A false match decides even beside an unread one.
    const decided = chain([
      rule({
        matches: [
          { kind: 'iif', name: 'eth9', negate: false },
          { kind: 'unsupported', text: 'x' },
        ],
        action: { kind: 'mark-set', value: 1, mask: 0xffffffff },
      }),
    ]);
    expect(evaluateMarks([decided], ctx({}))).toMatchObject({ kind: 'known', mark: 0 });
    const drop = chain([rule({ action: { kind: 'drop' }, text: 'dropper' })]);
    expect(evaluateMarks([drop], ctx({}))).toEqual({ kind: 'dropped', rule: 'iptables -t mangle PREROUTING: dropper' });
    const missing = chain([rule({ action: { kind: 'jump', chain: 'NOWHERE' } })]);
    expect(evaluateMarks([missing], ctx({}))).toEqual({
      kind: 'unknown',
      reason: 'iptables -t mangle PREROUTING jumps to NOWHERE, which was not read',
    });
  });

  it('a daddr match on a reply whose de-SNAT the model cannot place is unknown', () => {
    const c = chain([
      rule({
        matches: [{ kind: 'daddr', prefix: '203.0.113.0/24', negate: false }],
        action: { kind: 'mark-set', value: 1, mask: 0xffffffff },
      }),
    ]);
    expect(evaluateMarks([c], ctx({ dst: null })).kind).toBe('unknown');
    expect(evaluateMarks([c], ctx({ dst: '203.0.113.9' }))).toMatchObject({ kind: 'known', mark: 1 });
    expect(evaluateMarks([c], ctx({ dst: '198.51.100.1' }))).toMatchObject({ kind: 'known', mark: 0 });
  });
});

describe('conntrack -L', () => {
  it('reads both tuples, state, flags and mark; counts what it cannot read', () => {
    const text = [
      'tcp      6 431999 ESTABLISHED src=203.0.113.5 dst=192.168.1.240 sport=40000 dport=443 src=10.244.1.5 dst=203.0.113.5 sport=8443 dport=40000 [ASSURED] mark=100 use=1',
      'tcp      6 119 SYN_SENT src=203.0.113.5 dst=192.168.1.240 sport=40001 dport=443 [UNREPLIED] src=10.244.2.5 dst=10.10.0.1 sport=8443 dport=1024 mark=0 use=1',
      'udp      17 29 src=2001:db8:c::5 dst=2001:db8:1::240 sport=5000 dport=53 [UNREPLIED] src=2001:db8:1::240 dst=2001:db8:c::5 sport=53 dport=5000 mark=0 use=1',
      'tcp 6 10 CLOSE src=1.2.3.4 dst=5.6.7.8',
      'garbage',
      'conntrack v1.4.7 (conntrack-tools): 3 flow entries have been shown.',
    ].join('\n');
    const r = parseConntrack(text);
    expect(r.malformed).toBe(2);
    expect(r.entries).toEqual([
      {
        proto: 'tcp',
        state: 'ESTABLISHED',
        orig: { src: '203.0.113.5', dst: '192.168.1.240', sport: 40000, dport: 443 },
        reply: { src: '10.244.1.5', dst: '203.0.113.5', sport: 8443, dport: 40000 },
        mark: 100,
        flags: ['ASSURED'],
      },
      {
        proto: 'tcp',
        state: 'SYN_SENT',
        orig: { src: '203.0.113.5', dst: '192.168.1.240', sport: 40001, dport: 443 },
        reply: { src: '10.244.2.5', dst: '10.10.0.1', sport: 8443, dport: 1024 },
        mark: 0,
        flags: ['UNREPLIED'],
      },
      {
        proto: 'udp',
        state: null,
        orig: { src: '2001:db8:c::5', dst: '2001:db8:1::240', sport: 5000, dport: 53 },
        reply: { src: '2001:db8:1::240', dst: '2001:db8:c::5', sport: 53, dport: 5000 },
        mark: 0,
        flags: ['UNREPLIED'],
      },
    ]);
    expect(parseConntrack(text, 1).entries).toHaveLength(1);
  });
});

describe('bad input never throws', () => {
  it('survives 2,000 mutated rulesets, nft documents and conntrack listings', () => {
    const ipt = fixture('kube-proxy-connmark.iptables-save');
    const nft = fixture('iptables-nft-and-native.nft.json');
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    const mutate = (s: string) => {
      const a = s.split('');
      for (let k = 0; k < 1 + Math.floor(rnd() * 8); k++)
        a[Math.floor(rnd() * a.length)] = String.fromCharCode(32 + Math.floor(rnd() * 95));
      return a.join('');
    };
    let nftParsed = 0;
    for (let i = 0; i < 2000; i++) {
      const chains = parseIptablesSave(mutate(ipt), 'iptables');
      dnatBackends(chains, '192.168.1.240', 4);
      evaluateMarks(chains, ctx({}));
      try {
        const p = parseNftJson(JSON.parse(mutate(nft)));
        if (!('error' in p)) {
          nftParsed++;
          evaluateMarks(p.chains, ctx({}));
        }
      } catch (e) {
        expect(e).toBeInstanceOf(SyntaxError); // JSON.parse's, not ours
      }
      parseConntrack(mutate('tcp 6 1 ESTABLISHED src=1.2.3.4 dst=5.6.7.8 sport=1 dport=2 src=5.6.7.8 dst=1.2.3.4 sport=2 dport=1 mark=5'));
    }
    // enough of the mutated documents were still JSON to reach the parser
    expect(nftParsed).toBeGreaterThan(100);
  });
});
