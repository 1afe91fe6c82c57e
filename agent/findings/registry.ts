// The one registry of finding types: severity, identity, a one-line meaning and the operator's doc. The store, every
// finding's severity, docs/findings.md and the PrometheusRule are derived from it or checked against it.

export const SEVERITIES = ['critical', 'warning', 'info'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** The fields that, with the type, make a finding the same one from one check to the next (its wording may change). */
export type IdentityField = 'vip' | 'ingress' | 'egress' | 'client' | 'peer';

export interface FindingSpec {
  severity: Severity;
  /** a lower severity some findings of this type get, and when */
  lowered?: { severity: Severity; when: string };
  identity: readonly IdentityField[];
  /** which commands raise it */
  raisedBy: readonly ('check' | 'analyze' | 'serve')[];
  /** one line: what it means */
  meaning: string;
  /** what to do about it, for docs/findings.md */
  action: string;
  /** the PrometheusRule alert that fires on it, if one does */
  alert?: string;
}

const STATIC = ['check', 'serve'] as const;
const PATH_ID = ['vip', 'ingress', 'egress'] as const;

export const FINDINGS = {
  'asymmetric-reply-path': {
    severity: 'critical',
    identity: PATH_ID,
    raisedBy: STATIC,
    meaning:
      'replies to some clients leave on another interface than the requests arrive on; names the reply source (local socket, hostNetwork backend, forwarded pod), the rule and route, with connmark or source policy routing and a route fix',
    action:
      'apply one of the printed fixes (connmark or source policy routing, or moving the default route), then run `asymroute check` again: it asks the kernel the same question',
    alert: 'AsymrouteReplyPathAsymmetric',
  },
  'reply-path-unknown': {
    severity: 'warning',
    identity: PATH_ID,
    raisedBy: STATIC,
    meaning:
      'asymroute cannot tell where some replies leave: the ruleset or conntrack could not be read, no backend is known for a non-local VIP, an eBPF datapath (Cilium, XDP, tc bpf) is on the path, or a rule selects on ports/protocol/uid; never reported as healthy',
    action:
      'read the evidence for what could not be seen; grant CAP_NET_ADMIN or install the missing binary, or confirm the path live (`asymroute serve` with capture)',
    alert: 'AsymrouteReplyPathUnknown',
  },
  'rp-filter-drop': {
    severity: 'critical',
    identity: [...PATH_ID, 'client'],
    raisedBy: STATIC,
    meaning:
      'strict `rp_filter` (the kernel uses max(all, iface)) drops the *requests*, because their reverse path leaves elsewhere; confirmed by `ip route get VIP from CLIENT iif INGRESS` failing with EINVAL',
    action: 'fix the reply path (the asymmetric-reply-path finding), or set rp_filter to 2 (loose) on the ingress',
    alert: 'AsymrouteRpFilterDroppingVipTraffic',
  },
  'reply-unroutable': {
    severity: 'critical',
    lowered: { severity: 'warning', when: 'the client is only the default-route destination' },
    identity: [...PATH_ID, 'client'],
    raisedBy: STATIC,
    meaning: 'the kernel has no route for the replies',
    action: 'add a route (or a default route) towards the clients on the ingress interface',
  },
  'vip-outside-connected-subnets': {
    severity: 'warning',
    identity: PATH_ID,
    raisedBy: STATIC,
    meaning: 'the VIP is in no connected subnet: L2 (ARP/NDP) announcements cannot reach clients; pin the ingress for BGP',
    action: 'for BGP, give the VIP with `--vip VIP@INTERFACE`; for L2, pick a VIP pool inside a connected subnet',
  },
  'competing-default-routes': {
    severity: 'warning',
    identity: PATH_ID,
    raisedBy: STATIC,
    meaning: 'several default routes in `main` on different interfaces',
    action: 'keep one default route, or give the others distinct metrics on purpose',
  },
  'default-route-on-management-network': {
    severity: 'warning',
    identity: PATH_ID,
    raisedBy: STATIC,
    meaning:
      'the default route points into a NAT/management network (`--management-cidr`, default 10.0.2.0/24, 192.168.121.0/24, 192.168.122.0/24, 172.17.0.0/16) and VIP replies follow it',
    action: 'move the default route to the LAN interface, or route the VIP replies by policy (see asymmetric-reply-path)',
  },
  'multipath-default-spans-interfaces': {
    severity: 'warning',
    identity: PATH_ID,
    raisedBy: STATIC,
    meaning: 'an ECMP default route hashes replies across interfaces',
    action: 'route VIP replies by policy to the ingress, or keep the multipath route on one interface',
  },
  'vip-not-local': {
    severity: 'info',
    identity: PATH_ID,
    raisedBy: STATIC,
    meaning:
      "the VIP is not a local address (MetalLB L2 with iptables kube-proxy): its replies come from DNAT'd backends, and a source rule for the VIP cannot fix them",
    action: "nothing by itself; the backends' reply paths are checked instead",
  },
  'route-model-unknown': {
    severity: 'info',
    identity: PATH_ID,
    raisedBy: STATIC,
    meaning: "the model cannot explain the kernel's answer (see docs/design.md, known limits); the kernel's answer is still used",
    action: 'nothing; report it with `asymroute snapshot` if it persists',
  },
  'route-model-mismatch': {
    severity: 'info',
    identity: PATH_ID,
    raisedBy: STATIC,
    meaning:
      'the model disagrees with the kernel: the kernel wins. Routing that changes while the check runs also causes it (the snapshot and the kernel answer see different states); otherwise please report it with a snapshot',
    action: 'if it persists on a host whose routing is not changing, report it with `asymroute snapshot`',
  },
  'asymmetric-flows-observed': {
    severity: 'critical',
    identity: PATH_ID,
    raisedBy: ['analyze', 'serve'],
    meaning:
      'flows arrived on one interface and their replies left on another (any reply: a SYN-ACK, a RST to a closed port, an ICMP port unreachable), with the retransmitted SYNs; in `serve`, when every static path looks fine it says the static model misses this path and lists what it asked',
    action:
      'see the asymmetric-reply-path finding for the same VIP; when there is none, compare the live connections with what the static check asked (tc or eBPF redirects, late marks)',
    alert: 'AsymrouteAsymmetricFlowsObserved',
  },
  'syn-unanswered': {
    severity: 'critical',
    identity: PATH_ID,
    raisedBy: ['analyze', 'serve'],
    meaning:
      'TCP SYNs got no reply on any interface (no SYN-ACK, RST or ICMP error) within 3 s: no listener, a firewall, or rp_filter dropping them. UDP and other requests without a reply raise nothing: they count as `no-reply` in `asymroute_flows` and the report (a single spoofed or stray datagram must not raise a critical finding)',
    action: 'check the listener and the firewall; `asymroute check` shows rp-filter-drop',
    alert: 'AsymrouteSynUnanswered',
  },
  'capture-without-interfaces': {
    severity: 'warning',
    identity: PATH_ID,
    raisedBy: ['analyze', 'serve'],
    meaning: 'the capture has no interface index: ingress/egress cannot be told',
    action: 'capture with `tcpdump -i any -y LINUX_SLL2` (tcpdump >= 4.99, libpcap >= 1.10)',
  },
  'vip-arp-unanswered': {
    severity: 'critical',
    identity: PATH_ID,
    raisedBy: ['serve'],
    meaning:
      'hosts keep asking who has the VIP (the same requester ≥ 3 times in 60 s), this node sent no ARP reply for it and no other MAC announced it: the dead-speaker incident ("no route to host"). Names the node MetalLB says announces it, or kube-vip says holds it, when known',
    action: 'check the speaker on the node that should announce the VIP (MetalLB speaker pods, memberlist)',
    alert: 'AsymrouteVipArpUnanswered',
  },
  'vip-arp-conflict': {
    severity: 'critical',
    identity: PATH_ID,
    raisedBy: ['serve'],
    meaning: 'two or more MACs claimed the VIP (ARP replies or gratuitous announcements) in the last 60 s',
    action: 'find the second owner by its MAC; remove the duplicate address or the second announcer',
    alert: 'AsymrouteVipArpConflict',
  },
  'vips-not-watched': {
    severity: 'warning',
    identity: [],
    raisedBy: ['serve'],
    meaning:
      'VIPs left out of the watch: Kubernetes Service VIPs outside `--vip-cidr`, or VIPs past `--max-vips` (configured VIPs first, then those this node announces, then by address). They get no route questions, no capture and no per-VIP series; `/v1/vips` lists them',
    action:
      'if they are real VIPs, widen `--vip-cidr` or raise `--max-vips`; if not, find the Service that sets them (anyone who may create a Service can set `spec.externalIPs`)',
    alert: 'AsymrouteVipsNotWatched',
  },
  'bgp-session-down': {
    severity: 'critical',
    identity: ['peer'],
    raisedBy: ['serve'],
    meaning:
      'no established TCP session on port 179 with a `--bgp-peer` (or a MetalLB BGPPeer, or a peer this node dials itself; SYNs to port 179 from other sources are only counted), with how the attempts end: reset right after the handshake (the router does not list this node as a neighbour), refused, or unanswered',
    action:
      'a reset right after the handshake: add the node as a neighbour on the router; refused or unanswered: check the speaker and the path to the router',
    alert: 'AsymrouteBgpSessionDown',
  },
} as const satisfies Record<string, FindingSpec>;

export type FindingType = keyof typeof FINDINGS;
export const FINDING_TYPES = Object.keys(FINDINGS) as FindingType[];

export interface Remediation {
  title: string;
  /** Shell lines for a person to run; every value in them was validated as an address or interface name. */
  commands: string[];
  note?: string;
}

export interface Finding {
  type: FindingType;
  severity: Severity;
  vip: string | null;
  summary: string;
  evidence: string[];
  remediation: Remediation[];
  ingress?: string | null;
  egress?: string | null;
  client?: string | null;
  /** the BGP peer a session finding is about */
  peer?: string | null;
  /** the rule and route that made the decision, as `ip rule` / `ip route` print them */
  rule?: string | null;
  route?: string | null;
}

/** A finding with the registry's severity (or its lowered one): no call site names a severity. */
export function finding(type: FindingType, fields: Omit<Finding, 'type' | 'severity'>, opts: { lowered?: boolean } = {}): Finding {
  const spec: FindingSpec = FINDINGS[type];
  const severity = opts.lowered && spec.lowered ? spec.lowered.severity : spec.severity;
  return { type, severity, ...fields };
}

/** Stable identity of a finding across checks: its type and the registry's identity fields, not its wording. */
export function findingId(f: Finding): string {
  return [f.type, ...FINDINGS[f.type].identity.map((k) => f[k] ?? '-')].join('|');
}

export function severityRank(s: Severity): number {
  return SEVERITIES.indexOf(s);
}

export function sortFindings(f: Finding[]): Finding[] {
  return [...f].sort(
    (a, b) =>
      severityRank(a.severity) - severityRank(b.severity) || a.type.localeCompare(b.type) || (a.vip ?? '').localeCompare(b.vip ?? ''),
  );
}
