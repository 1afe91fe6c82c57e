// Every program the agent itself runs (the namespace labs of `demo` and the tests aside), with the Debian package
// that provides it: the container image installs exactly these packages (test/packaging/dockerfile.test.ts).

export interface AgentBinary {
  binary: string;
  /** Debian package of the binary */
  package: string;
  use: string;
}

export const AGENT_BINARIES: readonly AgentBinary[] = [
  { binary: 'ip', package: 'iproute2', use: 'netlink state (ip -j), route get, ip monitor, netns reads' },
  { binary: 'ss', package: 'iproute2', use: 'listening sockets behind a VIP port' },
  { binary: 'tcpdump', package: 'tcpdump', use: 'the live capture (LINUX_SLL2 pcap on stdout)' },
  { binary: 'arping', package: 'iputils-arping', use: 'the IPv4 L2 probe (--arp-probe)' },
  { binary: 'ndisc6', package: 'ndisc6', use: 'the IPv6 L2 probe (--arp-probe)' },
];
