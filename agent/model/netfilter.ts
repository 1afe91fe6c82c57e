// The parts of the netfilter ruleset and conntrack table that decide where a VIP's replies are routed: DNAT targets
// (the backends) and the packet/connection marks that fwmark rules route. Normalised from iptables-save text and
// `nft -j` JSON so one evaluator serves iptables-nft, iptables-legacy and native nftables.

export type NfOrigin = 'iptables' | 'iptables-legacy' | 'ip6tables' | 'ip6tables-legacy' | 'nft';

export type NfMatch =
  | { kind: 'iif' | 'oif'; name: string; negate: boolean }
  | { kind: 'saddr' | 'daddr'; prefix: string; negate: boolean }
  | { kind: 'proto'; proto: string; negate: boolean }
  | { kind: 'sport' | 'dport'; lo: number; hi: number; negate: boolean }
  | { kind: 'ctstate'; states: string[]; negate: boolean }
  | { kind: 'mark' | 'ctmark'; value: number; mask: number; negate: boolean }
  /** a match that cannot change whether a mark is set (a comment, a counter) */
  | { kind: 'none' }
  /** a match the evaluator does not read: the rule may or may not apply */
  | { kind: 'unsupported'; text: string };

export type NfAction =
  /** packet mark = (mark & ~mask) ^ value (MARK --set-xmark, nft meta mark set) */
  | { kind: 'mark-set'; value: number; mask: number }
  /** connection mark = (ctmark & ~mask) ^ value (CONNMARK --set-xmark, nft ct mark set) */
  | { kind: 'ctmark-set'; value: number; mask: number }
  /** packet mark = (mark & ~nfmask) ^ (ctmark & ctmask) (CONNMARK --restore-mark, nft meta mark set ct mark) */
  | { kind: 'restore'; nfmask: number; ctmask: number }
  /** connection mark = (ctmark & ~ctmask) ^ (mark & nfmask) (CONNMARK --save-mark, nft ct mark set meta mark) */
  | { kind: 'save'; nfmask: number; ctmask: number }
  | { kind: 'jump' | 'goto'; chain: string }
  | { kind: 'return' | 'accept' | 'drop' }
  | { kind: 'dnat'; addr: string; port: number | null }
  /** no verdict and no mark change: evaluation goes on with the next rule */
  | { kind: 'continue' }
  | { kind: 'unsupported'; text: string };

export interface NfRule {
  matches: NfMatch[];
  action: NfAction;
  /** the rule as the tool printed it, for the report */
  text: string;
}

export interface NfChain {
  origin: NfOrigin;
  family: 'ip' | 'ip6' | 'inet';
  table: string;
  name: string;
  /** base chains: the hook and priority they run at; null for a chain reached only by jump/goto */
  hook: string | null;
  priority: number | null;
  /** nftables chain type (filter, nat, route); iptables tables map to them */
  type: string | null;
  rules: NfRule[];
}

export interface ConntrackEntry {
  proto: string;
  state: string | null;
  orig: { src: string; dst: string; sport: number | null; dport: number | null };
  reply: { src: string; dst: string; sport: number | null; dport: number | null };
  mark: number;
  flags: string[];
}

/** What could be read, with the reason where not: unreadable means every mark and backend is unknown. */
export interface NetfilterState {
  chains: NfChain[];
  /** one line per source that was read ("iptables-save: 12 rules") */
  read: string[];
  /** sources that could not be read, and why: any entry makes marks unknown */
  errors: string[];
}

/** Connections to the VIPs, from conntrack: the live backends and their marks. */
export interface ConntrackRead {
  byVip: Record<string, ConntrackEntry[]>;
  /** entries beyond the per-VIP cap that were not kept */
  truncated: number;
  error: string | null;
}
