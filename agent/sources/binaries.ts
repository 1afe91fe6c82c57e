// Every program the agent itself runs (the namespace labs of `demo` and the tests aside), with the Debian package
// that provides it: the container image installs exactly these packages (test/packaging/dockerfile.test.ts, which
// also scans the source for programs missing here). Spawn sites name their program through `missingMessage`, so
// TypeScript refuses one that is not listed.

export interface AgentBinary {
  binary: string;
  /** Debian package of the binary */
  package: string;
  use: string;
  /** how other systems install it, added to the "not found" message */
  elsewhere?: string;
}

export const AGENT_BINARIES = [
  {
    binary: 'ip',
    package: 'iproute2',
    use: 'netlink state (ip -j), route get, ip monitor, netns reads',
    elsewhere: 'Alpine: apk add iproute2',
  },
  { binary: 'ss', package: 'iproute2', use: 'listening sockets behind a VIP port' },
  { binary: 'tcpdump', package: 'tcpdump', use: 'the live capture (LINUX_SLL2 pcap on stdout)' },
  { binary: 'arping', package: 'iputils-arping', use: 'the IPv4 L2 probe (--arp-probe)' },
  { binary: 'ndisc6', package: 'ndisc6', use: 'the IPv6 L2 probe (--arp-probe)' },
  { binary: 'tc', package: 'iproute2', use: "eBPF programs attached to the node's interfaces (tc -j filter show)" },
  { binary: 'iptables-nft-save', package: 'iptables', use: 'DNAT backends and MARK/CONNMARK rules (iptables-nft, IPv4)' },
  { binary: 'iptables-save', package: 'iptables', use: 'the same where iptables-nft-save is not on PATH' },
  { binary: 'ip6tables-nft-save', package: 'iptables', use: 'DNAT backends and marks (iptables-nft, IPv6)' },
  { binary: 'ip6tables-save', package: 'iptables', use: 'the same where ip6tables-nft-save is not on PATH' },
  { binary: 'iptables-legacy-save', package: 'iptables', use: 'legacy (x_tables) rules, when any are loaded' },
  { binary: 'ip6tables-legacy-save', package: 'iptables', use: 'legacy (x_tables) IPv6 rules, when any are loaded' },
  { binary: 'nft', package: 'nftables', use: 'native nftables DNAT and mark rules (nft -j list ruleset)' },
  { binary: 'setpriv', package: 'util-linux', use: 'starts every child with a parent-death signal, and tcpdump as its own user' },
  { binary: 'conntrack', package: 'conntrack', use: 'live connections to each VIP: backend, SNAT, connection mark' },
] as const satisfies readonly AgentBinary[];

export type AgentBinaryName = (typeof AGENT_BINARIES)[number]['binary'];

/** What the agent says when a listed program is not on PATH: the package that provides it, from the list. */
export function missingMessage(name: AgentBinaryName): string {
  const b: AgentBinary = AGENT_BINARIES.find((x) => x.binary === name)!;
  const pkg = b.package;
  const named = name === pkg ? '' : ` (${pkg})`;
  return `the '${name}' command${named} was not found on PATH: install the ${pkg} package (Debian/Ubuntu: apt-get install ${pkg}${b.elsewhere ? `; ${b.elsewhere}` : ''})`;
}
