// Live capture: tcpdump as a child (`-i any -y LINUX_SLL2 -U -w -`), its pcap stream parsed as it arrives. Without
// --immediate-mode the kernel hands packets over a block at a time (within tcpdump's 1 s timeout), which made tcpdump
// about five times cheaper at a high packet rate (docs/benchmark.md); -U still writes each packet out, so a lone SYN
// is not held in a buffer. SLL2 carries the interface index and direction of every packet; without it there is no live evidence.

import { readFileSync } from 'node:fs';
import { missingMessage } from '../sources/binaries.js';
import { markedChildren, spawnChild, withParentDeath, type Child } from '../sources/child.js';
import { canonicalIp, formatIp, parseIp } from '../net/ip.js';
import { PcapStreamReader, type PcapHeader } from '../parsers/pcap.js';
import { LINKTYPE } from '../decoders/link.js';
import { pidAlive } from '../sources/pids.js';
import { InvalidArgumentError, validateIfname, validateNetnsName } from '../sources/validate.js';
import { Restarter } from '../supervisor/restarter.js';

export const TCPDUMP_MISSING_MESSAGE = missingMessage('tcpdump');
/** Marks our tcpdump children in their environment, so a restarted agent can find and end its orphans. */
export const CAPTURE_MARKER = 'ASYMROUTE_CAPTURE';

/** At most this many address terms per family: beyond it, neighbouring VIPs merge into covering nets. */
export const MAX_FILTER_TERMS = 32;

// Exact CIDR blocks for a set of addresses of one family, then (past `max`) the closest neighbours merged into
// covering nets: the filter stays bounded with thousands of VIPs, at the price of capturing some non-VIP traffic
// that the flow matcher then skips.
export function vipNets(addrs: bigint[], bits: number, max = MAX_FILTER_TERMS): Array<{ value: bigint; len: number }> {
  let nets = [...new Set(addrs)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map((value) => ({ value, len: bits }));
  // Two sibling blocks of the same size become their parent, until nothing merges.
  for (let merged = true; merged;) {
    merged = false;
    const out: typeof nets = [];
    for (const n of nets) {
      const last = out.at(-1);
      const size = 1n << BigInt(bits - n.len);
      if (last && last.len === n.len && n.len > 0 && last.value + size === n.value && (last.value & ((size << 1n) - 1n)) === 0n) {
        out[out.length - 1] = { value: last.value, len: n.len - 1 };
        merged = true;
      } else out.push(n);
    }
    nets = out;
  }
  while (nets.length > max) {
    // The adjacent pair with the longest common prefix becomes that prefix.
    let best = 0;
    let bestLen = -1;
    for (let i = 0; i + 1 < nets.length; i++) {
      const l = commonPrefix(nets[i]!.value, nets[i + 1]!.value, bits, Math.min(nets[i]!.len, nets[i + 1]!.len));
      if (l > bestLen) [best, bestLen] = [i, l];
    }
    const mask = bestLen === 0 ? 0n : ((1n << BigInt(bestLen)) - 1n) << BigInt(bits - bestLen);
    const parent = { value: nets[best]!.value & mask, len: bestLen };
    const end = parent.value + (1n << BigInt(bits - bestLen));
    // The parent also swallows any later block inside it.
    let j = best + 2;
    while (j < nets.length && nets[j]!.value < end) j++;
    nets.splice(best, j - best, parent);
  }
  return nets;
}

function commonPrefix(a: bigint, b: bigint, bits: number, upTo: number): number {
  const x = a ^ b;
  return Math.min(upTo, x === 0n ? bits : bits - x.toString(2).length);
}

function netTerms(dir: 'src' | 'dst' | 'arp', family: 4 | 6, addrs: bigint[]): string {
  const bits = family === 4 ? 32 : 128;
  const terms = vipNets(addrs, bits).map((n) => {
    const text = formatIp({ family, value: n.value });
    return n.len === bits ? `${dir} host ${text}` : `${dir} net ${text}/${n.len}`;
  });
  return terms.length === 1 ? terms[0]! : `(${terms.join(' or ')})`;
}

/**
 * The capture filter: the kernel chooses what crosses into user space. To and from VIPs: TCP SYN, FIN and RST and
 * everything that is neither TCP nor UDP, always; TCP and UDP data only for 1 in 2^flows flows, chosen by the
 * client port (its low bits zero), read from the source port of requests and the destination port of replies so
 * both directions of a chosen flow are kept; within those, about 1 in 2^tcpData TCP data segments and 1 in 2^udp
 * IPv4 UDP datagrams. ARP for the VIPs, IPv6 neighbour discovery, and TCP port 179 (BGP) when
 * asked. IPv6 transport headers are read right after the fixed header; with extension headers in between, a
 * packet counts as "neither TCP nor UDP" and is kept.
 */
export interface SampleBits {
  /** TCP/UDP data of 1 in 2^flows flows, chosen by the client port */
  flows?: number;
  /** within those, about 1 in 2^tcpData TCP segments without SYN/FIN/RST, by sequence + acknowledgment number */
  tcpData?: number;
  /** within those, about 1 in 2^udp IPv4 UDP datagrams, by IP ID (ID 0 always kept) */
  udp?: number;
}

function bitsMask(bits: number | undefined, what: string): number {
  const b = bits ?? 0;
  if (!Number.isInteger(b) || b < 0 || b > 16) throw new InvalidArgumentError(`invalid ${what} sample bits ${b}: 0..16`);
  return (1 << b) - 1;
}

// Bits 10 and up of seq + ack: a bulk sender's sequence and its peer's acknowledgments both advance by about a
// segment per packet, so each direction is thinned alike; bits below 10 would follow the segment size, not the count.
const seqAckThin = (seq: string, ack: string, m: number) => `((((${seq} + ${ack}) >> 10) & ${m}) = 0)`;

export function buildFilter(vips: string[], opts: { arp?: boolean; bgp?: boolean; sample?: SampleBits } = {}): string {
  const v4: bigint[] = [];
  const v6: bigint[] = [];
  for (const v of vips) {
    const ip = parseIp(v);
    if (ip === null || canonicalIp(v) === null) throw new InvalidArgumentError(`invalid VIP ${JSON.stringify(v)} for the capture filter`);
    (ip.family === 4 ? v4 : v6).push(ip.value);
  }
  const m = bitsMask(opts.sample?.flows, 'flow');
  const dm = bitsMask(opts.sample?.tcpData, 'TCP data');
  const um = bitsMask(opts.sample?.udp, 'UDP');
  const all = (...terms: Array<string | null>) => terms.filter((t): t is string => t !== null).join(' and ');
  const parts: string[] = [];
  if (v4.length) {
    const [dst, src] = [netTerms('dst', 4, v4), netTerms('src', 4, v4)];
    if (m === 0 && dm === 0 && um === 0) parts.push(`(ip and (${dst} or ${src}))`);
    else {
      const keep = (port: 0 | 2) =>
        `(not (tcp or udp) or tcp[13] & 7 != 0 or (${all(
          'tcp',
          m ? `tcp[${port}:2] & ${m} = 0` : null,
          dm ? seqAckThin('tcp[4:4]', 'tcp[8:4]', dm) : null,
        )}) or (${all('udp', m ? `udp[${port}:2] & ${m} = 0` : null, um ? `ip[4:2] & ${um} = 0` : null)}))`;
      parts.push(`(ip and ((${dst} and ${keep(0)}) or (${src} and ${keep(2)})))`);
    }
  }
  if (v6.length) {
    const [dst, src] = [netTerms('dst', 6, v6), netTerms('src', 6, v6)];
    if (m === 0 && dm === 0) parts.push(`(ip6 and (${dst} or ${src}))`);
    else {
      // Only a TCP or UDP header right after the fixed header is read; anything else (extension headers) is kept.
      const keep = (port: 40 | 42) =>
        `(not (ip6[6] = 6 or ip6[6] = 17) or (ip6[6] = 6 and ip6[53] & 7 != 0) or (${all(
          m ? `ip6[${port}:2] & ${m} = 0` : null,
          dm ? `(ip6[6] = 17 or ${seqAckThin('ip6[44:4]', 'ip6[48:4]', dm)})` : null,
        )}))`;
      parts.push(`(ip6 and ((${dst} and ${keep(40)}) or (${src} and ${keep(42)})))`);
    }
  }
  if (opts.arp !== false && v4.length) parts.push(`(arp and ${netTerms('arp', 4, v4).replace(/arp (host|net) /g, '$1 ')})`);
  // NDP for IPv6 VIPs: solicitations go to a multicast group and name the VIP only inside the ICMPv6 message.
  if (opts.arp !== false && v6.length) parts.push('(icmp6 and (ip6[40] == 135 or ip6[40] == 136))');
  if (opts.bgp) parts.push('tcp port 179');
  if (parts.length === 0) throw new InvalidArgumentError('no VIPs to capture');
  return parts.join(' or ');
}

/** tcpdump's arguments for a pcap stream of VIP traffic on stdout; -s and -B only when given (else tcpdump's defaults). */
export function tcpdumpArgs(
  vips: string[],
  opts: { iface?: string; snaplen?: number; bufferKiB?: number; bgp?: boolean; sample?: SampleBits } = {},
): string[] {
  const iface = opts.iface ?? 'any';
  if (iface !== 'any') validateIfname(iface);
  const { snaplen, bufferKiB } = opts;
  if (snaplen !== undefined && (!Number.isInteger(snaplen) || snaplen < 96 || snaplen > 262144))
    throw new InvalidArgumentError(`invalid snaplen ${snaplen}: 96..262144`);
  if (bufferKiB !== undefined && (!Number.isInteger(bufferKiB) || bufferKiB < 64 || bufferKiB > 1048576))
    throw new InvalidArgumentError(`invalid capture buffer ${bufferKiB} KiB: 64..1048576`);
  return [
    ...['-i', iface, '-y', 'LINUX_SLL2', '-U', '-n', '-w', '-'],
    ...(snaplen !== undefined ? ['-s', String(snaplen)] : []),
    ...(bufferKiB !== undefined ? ['-B', String(bufferKiB)] : []),
    buildFilter(vips, { bgp: opts.bgp, sample: opts.sample }),
  ];
}

export interface CaptureStats {
  captured: number;
  receivedByFilter: number;
  droppedByKernel: number;
}

/** Parses tcpdump's statistics lines (printed on SIGUSR1 and at exit). */
export function parseTcpdumpStats(text: string): CaptureStats | null {
  const cap = /(\d+) packets? captured/.exec(text);
  const rec = /(\d+) packets? received by filter/.exec(text);
  const drop = /(\d+) packets? dropped by kernel/.exec(text);
  if (!cap || !rec || !drop) return null;
  return { captured: Number(cap[1]), receivedByFilter: Number(rec[1]), droppedByKernel: Number(drop[1]) };
}

export interface CaptureOptions {
  vips: string[];
  /** also capture TCP port 179 (BGP sessions) */
  bgp?: boolean;
  /** what of the TCP/UDP data is kept (absent: all); see buildFilter */
  sample?: SampleBits;
  iface?: string;
  snaplen?: number;
  /** kernel buffer in KiB (-B) */
  bufferKiB?: number;
  netns?: string;
  binary?: string;
  /** first restart delay; doubles up to maxBackoffMs (ignored when a restarter is given) */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** schedules restarts (backoff with jitter); shared across captures so counts carry over a VIP set change */
  restarter?: Restarter;
  statsIntervalMs?: number;
  onPacket: (buf: Buffer, off: number, caplen: number, len: number, tsMs: number, linktype: number) => void;
  onEvent?: (e: CaptureEvent) => void;
  /** after each chunk of the stream has been read, packets and all: counters are handed on here, once per chunk */
  onBatch?: () => void;
}

export type CaptureEvent =
  | { type: 'started'; pid: number; args: string[] }
  | { type: 'linktype'; linktype: number; ok: boolean; message: string }
  | { type: 'exited'; code: number | null; signal: string | null; stderr: string; restartInMs: number | null }
  | { type: 'stats'; stats: CaptureStats }
  | { type: 'format-error'; message: string }
  | { type: 'stale-killed'; pids: number[] }
  | { type: 'stop-failed'; pid: number | null; message: string };

/** A child that ran this long before exiting was healthy: its exit restarts with the initial backoff. */
export const HEALTHY_RUN_MS = 10_000;
/** How long a child must have streamed LINUX_SLL2 before it counts as up. */
const HEALTHY_AFTER_MS = 1000;

export class TcpdumpCapture {
  private child: Child | null = null;
  private stopping = false;
  private statsTimer: NodeJS.Timeout | null = null;
  private readonly restarter: Restarter;
  private stderrTail = '';
  /** when the current child delivered its LINUX_SLL2 pcap header */
  private streamingSince: number | null = null;
  stats: CaptureStats = { captured: 0, receivedByFilter: 0, droppedByKernel: 0 };
  linktype: number | null = null;
  readonly args: string[];

  constructor(private readonly opts: CaptureOptions) {
    if (opts.netns) validateNetnsName(opts.netns);
    this.args = tcpdumpArgs(opts.vips, {
      iface: opts.iface,
      snaplen: opts.snaplen ?? 192,
      bufferKiB: opts.bufferKiB ?? 4096,
      bgp: opts.bgp,
      sample: opts.sample,
    });
    this.restarter =
      opts.restarter ??
      new Restarter('tcpdump', { initialMs: opts.backoffMs ?? 1000, maxMs: opts.maxBackoffMs ?? 30_000, healthyAfterMs: HEALTHY_RUN_MS });
  }

  /** restarts of the capture child (across every capture sharing the restarter) */
  get restarts(): number {
    return this.restarter.state.restarts;
  }

  get running(): boolean {
    return this.child !== null && this.child.proc.exitCode === null;
  }

  /**
   * Alive and delivering LINUX_SLL2 for a second: a child being restarted, one that fell back to another link type,
   * or one that writes its header and then fails to drop privileges (within milliseconds) is not.
   */
  get healthy(): boolean {
    return this.running && this.streamingSince !== null && Date.now() - this.streamingSince >= HEALTHY_AFTER_MS;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    const killed = await killStaleCaptures();
    if (killed.length) this.opts.onEvent?.({ type: 'stale-killed', pids: killed });
    this.spawn();
    const every = this.opts.statsIntervalMs ?? 10_000;
    this.statsTimer = setInterval(() => this.requestStats(), every);
    this.statsTimer.unref();
  }

  /** SIGUSR1 makes tcpdump print its counters on stderr and carry on. */
  requestStats(): void {
    if (this.running) signal(this.child!, 'SIGUSR1');
  }

  private spawn(): void {
    const reader = new PcapStreamReader(
      (buf, off, caplen, len, sec, frac) => this.opts.onPacket(buf, off, caplen, len, sec * 1000 + frac / 1000, this.linktype ?? -1),
      (h: PcapHeader) => this.onHeader(h),
    );
    const child = spawnTcpdump(this.args, { binary: this.opts.binary, netns: this.opts.netns });
    this.child = child;
    this.stderrTail = '';
    this.streamingSince = null;
    this.restarter.running();
    if (child.pid) this.opts.onEvent?.({ type: 'started', pid: child.pid, args: this.args });
    let broken = false;
    child.proc.stdout?.on('data', (chunk: Buffer) => {
      if (broken) return;
      const err = reader.push(chunk);
      this.opts.onBatch?.();
      if (err) {
        // The stream cannot be resynchronised: restart the child.
        broken = true;
        this.opts.onEvent?.({ type: 'format-error', message: err.message });
        signal(child, 'SIGTERM');
      }
    });
    child.proc.stderr?.on('data', (d: Buffer) => {
      this.stderrTail = (this.stderrTail + d.toString()).slice(-4000);
      const s = parseTcpdumpStats(this.stderrTail);
      if (s) {
        this.stats = s;
        this.opts.onEvent?.({ type: 'stats', stats: s });
        this.stderrTail = this.stderrTail.replace(/\d+ packets? captured[\s\S]*?dropped by kernel\n?/, '');
      }
    });
    void child.done.then((r) => {
      if (this.child !== child) return;
      const code = r.exitCode;
      const signal = r.signal;
      const enoent = r.code === 'ENOENT';
      const stderr = enoent ? TCPDUMP_MISSING_MESSAGE : this.stderrTail.trim();
      this.child = null;
      this.streamingSince = null;
      // Only a child that ran for a while resets the backoff (the restarter's healthyAfterMs): one that dies at once
      // (e.g. cannot drop privileges after writing its header) must not be restarted every second.
      const restartIn = this.stopping ? null : this.restarter.failed(stderr || `exit ${code ?? signal}`, () => this.spawn());
      this.opts.onEvent?.({ type: 'exited', code, signal, stderr, restartInMs: restartIn });
    });
  }

  private onHeader(h: PcapHeader): void {
    this.linktype = h.linktype;
    const ok = h.linktype === LINKTYPE.LINUX_SLL2;
    this.streamingSince = ok ? Date.now() : null;
    this.opts.onEvent?.({
      type: 'linktype',
      linktype: h.linktype,
      ok,
      message: ok
        ? 'LINUX_SLL2: interface index and direction per packet'
        : `tcpdump fell back to link type ${h.linktype} (not LINUX_SLL2): packets carry no interface index, LIVE EVIDENCE IS UNAVAILABLE (needs tcpdump >= 4.99 / libpcap >= 1.10)`,
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.restarter.stop();
    if (this.statsTimer) clearInterval(this.statsTimer);
    const c = this.child;
    if (!c) return;
    const exited = (ms: number) =>
      Promise.race([c.done.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);
    const stopped = (signal(c, 'SIGTERM') && (await exited(3000))) || (signal(c, 'SIGKILL') && (await exited(2000))) || (await exited(100));
    if (!stopped) {
      this.opts.onEvent?.({
        type: 'stop-failed',
        pid: c.pid ?? null,
        message:
          'tcpdump did not exit on SIGTERM or SIGKILL: the agent lacks the permission to signal it (CAP_KILL, once tcpdump has dropped to its own user)',
      });
      // Let go of it, or its open pipes keep this process from ever exiting.
      c.proc.stdout?.destroy();
      c.proc.stderr?.destroy();
      c.proc.unref();
    }
    this.child = null;
  }
}

/**
 * False when the signal could not be sent: EPERM (tcpdump dropped to its own user and the agent lacks CAP_KILL) or
 * the child is gone. process.kill throws; ChildProcess.kill would emit an 'error' event nobody handles.
 */
function signal(c: Child, sig: NodeJS.Signals): boolean {
  if (c.pid === undefined) return false;
  try {
    process.kill(c.pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** tcpdump processes that carry the capture marker, with the pid of the agent that started them. */
export async function markedCaptures(): Promise<Array<{ pid: number; owner: number }>> {
  return (await markedChildren(CAPTURE_MARKER)).filter((c) => c.comm === 'tcpdump').map(({ pid, owner }) => ({ pid, owner }));
}

/** Ends tcpdump processes left by an earlier agent (marked in their environment) whose agent is gone. */
export async function killStaleCaptures(): Promise<number[]> {
  const killed: number[] = [];
  for (const { pid, owner } of await markedCaptures()) {
    if (owner === process.pid || pidAlive(owner)) continue;
    try {
      process.kill(pid, 'SIGTERM');
      killed.push(pid);
    } catch {
      // gone meanwhile
    }
  }
  return killed;
}

const CAP_NET_ADMIN = 12;
const CAP_NET_RAW = 13;

// The setpriv arguments that run tcpdump as its own user, keeping only the capabilities it captures with. Debian's
// tcpdump drops to that user by itself when started as root, but the kernel clears a parent-death signal on that
// change of credentials, so an agent killed with SIGKILL would leave it running; setpriv drops first, then sets
// the signal. Empty when not root (tcpdump keeps its user then) or when the system has no tcpdump user.
export function tcpdumpPrivilegeDrop(
  uid: number | undefined = process.getuid?.(),
  passwd: () => string = () => readFileSync('/etc/passwd', 'utf8'),
  capEff: () => bigint = effectiveCaps,
): string[] {
  if (uid !== 0) return [];
  let users: string;
  try {
    users = passwd();
  } catch {
    return [];
  }
  if (!/^tcpdump:/m.test(users)) return [];
  const eff = capEff();
  const caps = [
    [CAP_NET_RAW, 'net_raw'],
    [CAP_NET_ADMIN, 'net_admin'],
  ]
    .filter(([bit]) => (eff >> BigInt(bit!)) & 1n)
    .map(([, name]) => `+${name}`)
    .join(',');
  const keep = caps ? `-all,${caps}` : '-all';
  return ['--reuid', 'tcpdump', '--regid', 'tcpdump', '--clear-groups', '--inh-caps', keep, '--ambient-caps', keep];
}

function effectiveCaps(): bigint {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? BigInt(`0x${m[1]}`) : 0n;
  } catch {
    return 0n;
  }
}

/** tcpdump as a marked child that dies with the agent, in a namespace when given (tests). */
export function spawnTcpdump(args: readonly string[], opts: { binary?: string; netns?: string } = {}): Child {
  const bin = opts.binary ?? 'tcpdump';
  const env = { [CAPTURE_MARKER]: String(process.pid), LC_ALL: 'C' };
  // A stand-in binary (tests) keeps the agent's user: the drop is what tcpdump itself would do.
  const drop = opts.binary === undefined ? tcpdumpPrivilegeDrop() : [];
  if (!opts.netns) return spawnChild(bin, args, env, drop);
  // `ip netns exec` needs root: the drop comes after it, and sets the death signal again.
  const [cmd, argv] = withParentDeath(bin, args, drop);
  return spawnChild('ip', ['netns', 'exec', opts.netns, cmd, ...argv], env);
}
