// The one configuration schema: flags, environment variables, config-file keys, defaults and help text all come
// from here. Later issues' chart values.schema.json mirrors it.

import { isIfname } from '../net/ifname.js';
import { parseIp, parsePrefix } from '../net/ip.js';
import { DNS_LABEL, DNS_SUBDOMAIN } from '../net/kube-name.js';

export type Command = 'check' | 'analyze' | 'serve' | 'demo' | 'snapshot' | 'cluster';

export type OptionType = 'string' | 'list' | 'boolean' | 'integer';

export interface OptionSpec {
  /** config-file key and result key */
  key: string;
  flag: string;
  /** a one-letter alias, e.g. 'p' for -p */
  short?: string;
  env: string;
  type: OptionType;
  default: string | readonly string[] | boolean | number | null;
  /** integer options: inclusive bounds */
  min?: number;
  max?: number;
  metavar?: string;
  help: string;
  commands: readonly Command[];
  /** string options with a fixed set of values */
  choices?: readonly string[];
  /** returns an error message for a bad single value */
  check?: (v: string) => string | null;
}

// Generic so that the choices stay literal types: ConfigFor gives `fix` the type 'policy' | 'default-route'.
const oneOf = <const C extends readonly string[]>(choices: C) => ({
  choices,
  check: (v: string) => (choices.includes(v) ? null : `expected ${choices.slice(0, -1).join(', ')} or ${choices.at(-1)}`),
});

function checkVip(v: string): string | null {
  const at = v.lastIndexOf('@');
  const ip = parseIp(at === -1 ? v : v.slice(0, at));
  if (!ip) return 'expected an IP address, optionally followed by @INTERFACE';
  if (at !== -1 && !isIfname(v.slice(at + 1))) return 'the part after @ must be an interface name';
  return null;
}

function checkCidr(v: string): string | null {
  return parsePrefix(v) && v !== 'default' ? null : 'expected a CIDR such as 203.0.113.0/24 or 2001:db8::/64';
}

function checkGateway(v: string): string | null {
  const eq = v.indexOf('=');
  if (eq === -1) return 'expected INTERFACE=ADDRESS';
  if (!isIfname(v.slice(0, eq))) return 'the part before = must be an interface name';
  if (!parseIp(v.slice(eq + 1))) return 'the part after = must be an IP address';
  return null;
}

// `as const` keeps each option's key, type, choices and commands as literal types, from which ConfigFor is derived.
const OPTION_TABLE = [
  {
    key: 'vips',
    flag: '--vip',
    env: 'ASYMROUTE_VIPS',
    type: 'list',
    default: [],
    metavar: 'IP[@IFACE]',
    help: 'load-balancer VIP to check (repeatable; env: comma-separated). @IFACE pins the interface requests arrive on. Without any, check detects VIP-like local addresses and analyze takes the destinations of incoming SYNs.',
    commands: ['check', 'analyze', 'serve'],
    check: checkVip,
  },
  {
    key: 'clients',
    flag: '--client',
    env: 'ASYMROUTE_CLIENTS',
    type: 'list',
    default: [],
    metavar: 'CIDR',
    help: 'client network whose replies to check (repeatable). An address only the default route covers, and the gateways, are always checked.',
    commands: ['check', 'analyze', 'serve'],
    check: checkCidr,
  },
  {
    key: 'gateways',
    flag: '--gateway',
    env: 'ASYMROUTE_GATEWAYS',
    type: 'list',
    default: [],
    metavar: 'IFACE=IP',
    help: 'the router on an interface, used in the fix commands when the host has no route through it (repeatable).',
    commands: ['check', 'analyze', 'serve'],
    check: checkGateway,
  },
  {
    key: 'managementCidrs',
    flag: '--management-cidr',
    env: 'ASYMROUTE_MANAGEMENT_CIDRS',
    type: 'list',
    default: ['10.0.2.0/24', '192.168.121.0/24', '192.168.122.0/24', '172.17.0.0/16'],
    metavar: 'CIDR',
    help: 'networks treated as NAT/management networks that should not carry VIP replies (repeatable; replaces the default list).',
    commands: ['check', 'analyze', 'serve'],
    check: checkCidr,
  },
  {
    key: 'snapshot',
    flag: '--snapshot',
    short: 's',
    env: 'ASYMROUTE_SNAPSHOT',
    type: 'string',
    default: null,
    metavar: 'FILE',
    help: 'check: analyse a saved snapshot (from `asymroute snapshot`) instead of this host; the route model answers alone. analyze: also run the static check on it, with the clients seen in the capture.',
    commands: ['check', 'analyze'],
  },
  {
    key: 'json',
    flag: '--json',
    short: 'j',
    env: 'ASYMROUTE_JSON',
    type: 'boolean',
    default: false,
    help: 'print the stable JSON report (schema asymroute.check/v1, docs/operations.md) instead of text.',
    commands: ['check', 'analyze'],
  },
  {
    key: 'config',
    flag: '--config',
    short: 'c',
    env: 'ASYMROUTE_CONFIG',
    type: 'string',
    default: '/etc/asymroute/config.yaml',
    metavar: 'FILE',
    help: 'YAML config file with the keys vips, clients, gateways, managementCidrs. The default path is read only if it exists.',
    commands: ['check', 'analyze', 'serve'],
  },
  {
    key: 'links',
    flag: '--links',
    env: 'ASYMROUTE_LINKS',
    type: 'string',
    default: null,
    metavar: 'FILE',
    help: "analyze: interface names for the capture's interface indexes, as printed by `ip -j link` on the capturing host. Default: CAPTURE.links.json beside the capture, if present.",
    commands: ['analyze'],
  },
  {
    key: 'listen',
    flag: '--listen',
    short: 'l',
    env: 'ASYMROUTE_LISTEN',
    type: 'string',
    default: '127.0.0.1',
    metavar: 'ADDRESS',
    help: 'serve: address the HTTP server binds (0.0.0.0 or :: for every address; the chart sets 0.0.0.0).',
    commands: ['serve'],
    check: (v) => (parseIp(v) ? null : 'expected an IP address'),
  },
  {
    key: 'port',
    flag: '--port',
    short: 'p',
    env: 'ASYMROUTE_PORT',
    type: 'integer',
    default: 9472,
    min: 0,
    max: 65535,
    metavar: 'PORT',
    help: 'serve: HTTP port (0: any free port, printed in the "listening" log line).',
    commands: ['serve'],
  },
  {
    key: 'probePort',
    flag: '--probe-port',
    env: 'ASYMROUTE_PROBE_PORT',
    type: 'integer',
    default: 0,
    min: 0,
    max: 65535,
    metavar: 'PORT',
    help: 'serve: a second port, plain HTTP on the --listen address, that answers only /healthz and /readyz (no authentication, as on --port). Probes sent there do not queue behind scrapes and API clients on --port, so a flood of those cannot fail a liveness probe. 0: none (the chart sets 9473).',
    commands: ['serve'],
  },
  {
    key: 'auth',
    flag: '--auth',
    env: 'ASYMROUTE_AUTH',
    type: 'string',
    default: 'auto',
    metavar: 'auto|none|tokens|kubernetes',
    help: 'serve: who may read the HTTP API (/healthz and /readyz are always open). kubernetes: bearer tokens checked with TokenReview and SubjectAccessReview (docs/operations.md lists the permissions); tokens: the bearer tokens of --auth-token-file; none: anyone who can connect. auto: kubernetes when Kubernetes is in use, else tokens when --auth-token-file is set, else none. A non-loopback --listen with none is refused unless --insecure-no-auth.',
    commands: ['serve'],
    ...oneOf(['auto', 'none', 'tokens', 'kubernetes']),
  },
  {
    key: 'authTokenFile',
    flag: '--auth-token-file',
    env: 'ASYMROUTE_AUTH_TOKEN_FILE',
    type: 'string',
    default: null,
    metavar: 'FILE',
    help: 'serve: static bearer tokens for --auth tokens, one per line: TOKEN SCOPE[,SCOPE...] [NAME], scopes metrics, report, capture, capture-payloads; # starts a comment. Re-read within a second of a change.',
    commands: ['serve'],
  },
  {
    key: 'tls',
    flag: '--tls',
    env: 'ASYMROUTE_TLS',
    type: 'string',
    default: 'auto',
    metavar: 'auto|on|off',
    help: 'serve: HTTPS. auto: on when bearer tokens are checked on a non-loopback --listen, or when --tls-cert-file is set; on without certificate files: a self-signed certificate (EC P-256, 90 days) made at start and renewed 30 days before it expires. off with bearer tokens on a non-loopback address is refused.',
    commands: ['serve'],
    ...oneOf(['auto', 'on', 'off']),
  },
  {
    key: 'tlsCertFile',
    flag: '--tls-cert-file',
    env: 'ASYMROUTE_TLS_CERT_FILE',
    type: 'string',
    default: null,
    metavar: 'FILE',
    help: 'serve: PEM serving certificate (chain) for HTTPS, with --tls-key-file; both are re-read within 10 s of a change (a rewritten Secret, cert-manager renewal) and new connections get the new certificate.',
    commands: ['serve'],
  },
  {
    key: 'tlsKeyFile',
    flag: '--tls-key-file',
    env: 'ASYMROUTE_TLS_KEY_FILE',
    type: 'string',
    default: null,
    metavar: 'FILE',
    help: 'serve: PEM private key of --tls-cert-file.',
    commands: ['serve'],
  },
  {
    key: 'insecureNoAuth',
    flag: '--insecure-no-auth',
    env: 'ASYMROUTE_INSECURE_NO_AUTH',
    type: 'boolean',
    default: false,
    help: 'serve: allow --auth none on a non-loopback --listen: anyone who reaches the port reads routes, neighbours and client flows. Logged as a warning at every start.',
    commands: ['serve'],
  },
  {
    key: 'interval',
    flag: '--interval',
    short: 'i',
    env: 'ASYMROUTE_INTERVAL',
    type: 'integer',
    default: 30,
    min: 1,
    max: 3600,
    metavar: 'SECONDS',
    help: 'serve: period of the static check (it also runs within a second of a route, rule, address or link change).',
    commands: ['serve'],
  },
  {
    key: 'debounceMs',
    flag: '--debounce-ms',
    env: 'ASYMROUTE_DEBOUNCE_MS',
    type: 'integer',
    default: 300,
    min: 0,
    max: 10000,
    metavar: 'MS',
    help: 'serve: quiet time after a burst of routing changes before the check runs.',
    commands: ['serve'],
  },
  {
    key: 'capture',
    flag: '--capture',
    env: 'ASYMROUTE_CAPTURE_ENABLED',
    type: 'boolean',
    default: true,
    help: 'serve: run the packet capture (tcpdump) for live evidence; --capture=false to turn it off.',
    commands: ['serve'],
  },
  {
    key: 'snaplen',
    flag: '--snaplen',
    env: 'ASYMROUTE_SNAPLEN',
    type: 'integer',
    default: 192,
    min: 96,
    max: 262144,
    metavar: 'BYTES',
    help: 'serve: bytes captured per packet (headers only by default).',
    commands: ['serve'],
  },
  {
    key: 'captureBufferKiB',
    flag: '--capture-buffer',
    env: 'ASYMROUTE_CAPTURE_BUFFER_KIB',
    type: 'integer',
    default: 4096,
    min: 64,
    max: 1048576,
    metavar: 'KiB',
    help: 'serve: kernel capture buffer (tcpdump -B).',
    commands: ['serve'],
  },
  {
    key: 'captureSampleBits',
    flag: '--capture-sample-bits',
    env: 'ASYMROUTE_CAPTURE_SAMPLE_BITS',
    type: 'integer',
    default: 4,
    min: 0,
    max: 16,
    metavar: 'K',
    help: 'serve: the capture filter keeps TCP SYN, FIN and RST to and from VIPs (and all that is neither TCP nor UDP) always, but TCP and UDP data only of 1 in 2^K flows, chosen in the kernel by the client port (low K bits zero) so both directions of a chosen flow are kept; 0 keeps every packet. Packet counts (asymroute_vip_ingress_packets_total) count what is captured.',
    commands: ['serve'],
  },
  {
    key: 'captureDataSampleBits',
    flag: '--capture-data-sample-bits',
    env: 'ASYMROUTE_CAPTURE_DATA_SAMPLE_BITS',
    type: 'integer',
    default: 6,
    min: 0,
    max: 16,
    metavar: 'K',
    help: 'serve: within the flows --capture-sample-bits keeps, the filter keeps about 1 in 2^K of the TCP segments without SYN, FIN or RST, chosen in the kernel by bits 10 and up of sequence + acknowledgment number (so a bulk sender and its pure-ACK peer are both thinned, and each direction still shows its interface); 0 keeps them all. A connection older than the capture is then judged only once both directions were seen, never "no reply".',
    commands: ['serve'],
  },
  {
    key: 'captureUdpSampleBits',
    flag: '--capture-udp-sample-bits',
    env: 'ASYMROUTE_CAPTURE_UDP_SAMPLE_BITS',
    type: 'integer',
    default: 0,
    min: 0,
    max: 16,
    metavar: 'K',
    help: 'serve: within the flows --capture-sample-bits keeps, keep about 1 in 2^K IPv4 UDP datagrams, chosen by the IP ID (datagrams with ID 0, as unconnected sockets send them with DF set, are always kept); 0 (the default) keeps them all. Off by default: a one-datagram exchange (DNS) would mostly be missed, and UDP flows are judged from a request and its reply.',
    commands: ['serve'],
  },
  {
    key: 'flowCapacity',
    flag: '--flow-capacity',
    env: 'ASYMROUTE_FLOW_CAPACITY',
    type: 'integer',
    default: 1000000,
    min: 1000,
    max: 10000000,
    metavar: 'FLOWS',
    help: 'serve: flows tracked at once (about 50 bytes each, allocated as flows arrive, doubling from 1024); when full, a slot is evicted (CLOCK order) and counted.',
    commands: ['serve'],
  },
  {
    key: 'flowIdle',
    flag: '--flow-idle',
    env: 'ASYMROUTE_FLOW_IDLE',
    type: 'integer',
    default: 60,
    min: 5,
    max: 3600,
    metavar: 'SECONDS',
    help: 'serve: a flow without packets for this long is closed; live findings clear once the flows behind them have.',
    commands: ['serve'],
  },
  {
    key: 'maxVips',
    flag: '--max-vips',
    env: 'ASYMROUTE_MAX_VIPS',
    type: 'integer',
    default: 64,
    min: 1,
    max: 65535,
    metavar: 'N',
    help: 'serve: watch at most N VIPs (configured ones first, then those this node announces, then by address); the rest are reported (vips-not-watched, /v1/vips) and get no route questions, capture or per-VIP series. Each VIP costs about 5 series and 20 to 60 ms of check time (test/adversarial/external-ips.test.ts); raise it, with --vip-cidr set to your address pools, when a node carries more.',
    commands: ['serve'],
  },
  {
    key: 'vipCidrs',
    flag: '--vip-cidr',
    env: 'ASYMROUTE_VIP_CIDRS',
    type: 'list',
    default: [],
    metavar: 'CIDR',
    help: 'serve: Kubernetes Service VIPs must fall in one of these CIDRs (repeatable; e.g. the MetalLB address pools); others are reported (vips-not-watched), not watched. Empty: any. Configured --vip addresses are always watched.',
    commands: ['serve'],
    check: checkCidr,
  },
  {
    key: 'pcapDownload',
    flag: '--pcap-download',
    env: 'ASYMROUTE_PCAP_DOWNLOAD',
    type: 'boolean',
    default: false,
    help: 'serve: allow GET /v1/capture?seconds=N: a pcap of VIP traffic, headers only (--snaplen bytes per packet); needs the capture permission.',
    commands: ['serve'],
  },
  {
    key: 'pcapDownloadPayloads',
    flag: '--pcap-download-payloads',
    env: 'ASYMROUTE_PCAP_DOWNLOAD_PAYLOADS',
    type: 'boolean',
    default: false,
    help: 'serve: also allow GET /v1/capture?seconds=N&payloads=true, whole packets (passwords and tokens in clear-text traffic included); needs --pcap-download and the capture-payloads permission.',
    commands: ['serve'],
  },
  {
    key: 'arpProbe',
    flag: '--arp-probe',
    env: 'ASYMROUTE_ARP_PROBE',
    type: 'boolean',
    default: false,
    help: 'serve: ask who owns each VIP on its ingress interface every --arp-probe-interval: arping (iputils-arping, broadcast, 3 probes) for IPv4, ndisc6 (3 solicitations) for IPv6; reports the answering MACs, and the latency for IPv4.',
    commands: ['serve'],
  },
  {
    key: 'arpProbeInterval',
    flag: '--arp-probe-interval',
    env: 'ASYMROUTE_ARP_PROBE_INTERVAL',
    type: 'integer',
    default: 60,
    min: 5,
    max: 3600,
    metavar: 'SECONDS',
    help: 'serve: seconds between two probes of the VIPs (each VIP is probed once per round).',
    commands: ['serve'],
  },
  {
    key: 'bgp',
    flag: '--bgp',
    env: 'ASYMROUTE_BGP',
    type: 'string',
    default: 'auto',
    metavar: 'auto|off',
    help: 'serve: BGP session health from ss (TCP port 179) and the capture. auto: report the --bgp-peer and MetalLB BGPPeer peers, and any peer this node dials itself (at most 64), when its session is not up; SYNs from other sources are only counted. ss runs every 5 s while a peer is known, else once a minute (a SYN this node sends to port 179, seen by the capture, brings the next run forward).',
    commands: ['serve'],
    ...oneOf(['auto', 'off']),
  },
  {
    key: 'bgpPeers',
    flag: '--bgp-peer',
    env: 'ASYMROUTE_BGP_PEERS',
    type: 'list',
    default: [],
    metavar: 'IP',
    help: 'serve: a BGP peer (router) whose session with this node must be up (repeatable); bgp-session-down when it is not.',
    commands: ['serve'],
    check: (v) => (parseIp(v) ? null : 'expected an IP address'),
  },
  {
    key: 'kubernetes',
    flag: '--kubernetes',
    env: 'ASYMROUTE_KUBERNETES',
    type: 'string',
    default: 'auto',
    metavar: 'auto|on|off',
    help: 'serve: take VIPs from Services of type LoadBalancer (status.loadBalancer.ingress, spec.loadBalancerIP) and spec.externalIPs. auto: when running in a cluster or a kubeconfig exists; on: fail if neither.',
    commands: ['serve'],
    ...oneOf(['auto', 'on', 'off']),
  },
  {
    key: 'kubeVip',
    flag: '--kube-vip',
    env: 'ASYMROUTE_KUBE_VIP',
    type: 'string',
    default: 'auto',
    metavar: 'auto|off',
    help: "serve: which node holds each kube-vip VIP: the Service's kube-vip.io/vipHost annotation, and kube-vip's Leases (its per-Service Lease under svc_election, else --kube-vip-lease), read once a Service carries a kube-vip.io/ annotation (needs list and watch on leases). Also takes VIPs from kube-vip.io/loadbalancerIPs. off: none of it.",
    commands: ['serve'],
    ...oneOf(['auto', 'off']),
  },
  {
    key: 'kubeVipLease',
    flag: '--kube-vip-lease',
    env: 'ASYMROUTE_KUBE_VIP_LEASE',
    type: 'string',
    default: 'kube-system/plndr-svcs-lock',
    metavar: 'NAMESPACE/NAME',
    help: "serve: kube-vip's global services Lease (its svc_leasename, in kube-vip's namespace), whose holder holds every kube-vip VIP that has no Lease of its own.",
    commands: ['serve'],
    check: (v) => (/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\/[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(v) ? null : 'expected NAMESPACE/NAME'),
  },
  {
    key: 'logLevel',
    flag: '--log-level',
    env: 'ASYMROUTE_LOG_LEVEL',
    type: 'string',
    default: 'info',
    metavar: 'LEVEL',
    help: 'serve: the least severe log lines written (JSON lines, each with its level): trace, debug (adds capture statistics every 10 s and child starts), info (findings raised and cleared, start, stop), warn (failures of a source, retried), error (critical findings, a capture that cannot give evidence), fatal or silent.',
    commands: ['serve'],
    ...oneOf(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']),
  },
  {
    key: 'kubernetesEvents',
    flag: '--kubernetes-events',
    env: 'ASYMROUTE_KUBERNETES_EVENTS',
    type: 'boolean',
    default: false,
    help: "serve: post an Event on the Service when its VIP's reply path turns asymmetric on this node and when it clears (deduplicated, at most one per Service and reason every 5 minutes; needs create on events).",
    commands: ['serve'],
  },
  {
    key: 'kubeconfig',
    flag: '--kubeconfig',
    env: 'ASYMROUTE_KUBECONFIG',
    type: 'string',
    default: null,
    metavar: 'FILE',
    help: 'serve, cluster: kubeconfig file (default: in-cluster service account, else $KUBECONFIG or ~/.kube/config).',
    commands: ['serve', 'cluster'],
  },
  {
    key: 'context',
    flag: '--context',
    env: 'ASYMROUTE_CONTEXT',
    type: 'string',
    default: null,
    metavar: 'NAME',
    help: "cluster: the kubeconfig context to use (default: the kubeconfig's current context).",
    commands: ['cluster'],
    check: (v) => (v.length > 0 && v.length <= 253 ? null : 'expected a context name'),
  },
  {
    key: 'namespace',
    flag: '--namespace',
    short: 'n',
    env: 'ASYMROUTE_NAMESPACE',
    type: 'string',
    default: null,
    metavar: 'NAMESPACE',
    help: 'cluster: the namespace the agents run in (default: every namespace).',
    commands: ['cluster'],
    check: (v) => (DNS_LABEL.test(v) ? null : 'expected a namespace name (a DNS label)'),
  },
  {
    key: 'selector',
    flag: '--selector',
    short: 'l',
    env: 'ASYMROUTE_SELECTOR',
    type: 'string',
    default: 'app.kubernetes.io/name=asymroute',
    metavar: 'LABELS',
    help: "cluster: label selector of the agent pods (the chart's default; another when the chart was installed with nameOverride).",
    commands: ['cluster'],
    check: (v) => (/^[A-Za-z0-9./_=!,() -]{1,512}$/.test(v) ? null : 'expected a label selector such as app.kubernetes.io/name=asymroute'),
  },
  {
    key: 'output',
    flag: '--output',
    short: 'o',
    env: 'ASYMROUTE_OUTPUT',
    type: 'string',
    default: 'table',
    metavar: 'table|json',
    help: 'cluster: a table, or the stable JSON (schema asymroute.cluster/v1, docs/operations.md).',
    commands: ['cluster'],
    ...oneOf(['table', 'json']),
  },
  {
    key: 'timeout',
    flag: '--timeout',
    env: 'ASYMROUTE_TIMEOUT',
    type: 'integer',
    default: 10,
    min: 1,
    max: 300,
    metavar: 'SECONDS',
    help: 'cluster: how long to wait for each agent (through the API server) and for each API request.',
    commands: ['cluster'],
  },
  {
    key: 'tokenFile',
    flag: '--token-file',
    env: 'ASYMROUTE_TOKEN_FILE',
    type: 'string',
    default: null,
    metavar: 'FILE',
    help: "cluster: a bearer token for the agents (one of an --auth tokens file, or one you made). Default: a 10-minute token of the agents' reader service account, asked for with TokenRequest.",
    commands: ['cluster'],
  },
  {
    key: 'serviceAccount',
    flag: '--service-account',
    env: 'ASYMROUTE_SERVICE_ACCOUNT',
    type: 'string',
    default: null,
    metavar: 'NAME',
    help: "cluster: the reader service account to ask a token for, in the agents' namespace (default: the pods' asymroute.io/reader-service-account annotation, which the chart sets).",
    commands: ['cluster'],
    check: (v) => (DNS_SUBDOMAIN.test(v) ? null : 'expected a service account name'),
  },
  {
    key: 'keep',
    flag: '--keep',
    env: 'ASYMROUTE_DEMO_KEEP',
    type: 'boolean',
    default: false,
    help: 'demo: leave the namespaces in place at the end (they are still removed on Ctrl-C).',
    commands: ['demo'],
  },
  {
    key: 'fix',
    flag: '--fix',
    env: 'ASYMROUTE_DEMO_FIX',
    type: 'string',
    default: 'policy',
    metavar: 'policy|default-route',
    help: 'demo: which fix to apply. policy: the policy routing check prints first (a source rule for a local socket, connmark routing for a pod); default-route: move the default route to eth1.',
    commands: ['demo'],
    ...oneOf(['policy', 'default-route']),
  },
  {
    key: 'backend',
    flag: '--backend',
    env: 'ASYMROUTE_DEMO_BACKEND',
    type: 'string',
    default: 'socket',
    metavar: 'socket|pod',
    help: "demo: what answers the VIP. socket: a server on the VIP itself; pod: a pod behind kube-proxy-style DNAT, where the from-VIP rule is shown failing before check's own fix works.",
    commands: ['demo'],
    ...oneOf(['socket', 'pod']),
  },
] as const satisfies readonly OptionSpec[];

export const OPTIONS: readonly OptionSpec[] = OPTION_TABLE;

type Option = (typeof OPTION_TABLE)[number];

/** The options of every command in C (for a union, the options the commands share). */
type OptionOf<C extends Command> = Option extends infer O
  ? O extends Option
    ? [C] extends [O['commands'][number]]
      ? O
      : never
    : never
  : never;

/** The resolved value of one option, from its type, its choices and whether its default is null ("not set"). */
type ValueOf<O extends OptionSpec> = O['type'] extends 'list'
  ? string[]
  : O['type'] extends 'integer'
    ? number
    : O['type'] extends 'boolean'
      ? boolean
      : (O extends { choices: readonly (infer V)[] } ? V : string) | (O['default'] extends null ? null : never);

/** The resolved configuration of a command: one typed field per option. */
export type ConfigFor<C extends Command> = { [O in OptionOf<C> as O['key']]: ValueOf<O> };

export function optionsFor(cmd: Command): OptionSpec[] {
  return OPTIONS.filter((o) => o.commands.includes(cmd));
}
