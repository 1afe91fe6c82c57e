// Third-party oracle: every capture of tcpdump's own test suite (many deliberately malformed) is read and decoded
// without an exception, and compared packet by packet with what `tcpdump -nn -e` prints. Full recall per file: every
// packet tcpdump prints as IPv4, IPv6 or ARP must be decoded as such with the same addresses, ports (both ways: printed
// by tcpdump iff we have them), TCP flags, ARP fields and the SLL packet direction, and every packet we decode as IP or ARP must be printed as
// such by tcpdump. Each other outcome is a named difference whose exact count per file is listed in
// test/fixtures/tcpdump-corpus-differences.json; WHY below says why each kind of difference is expected.
// ASYMROUTE_CORPUS_RECORD=1 rewrites that list from the current decoders (review its diff before committing).

import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { decodePacket, type PacketResult } from '../../agent/decoders/packet.js';
import { LINKTYPE } from '../../agent/decoders/link.js';
import { readCaptureFile } from '../../agent/parsers/capture-file.js';
import { ROOT } from '../helpers/cli.js';

const CORPUS = join(ROOT, '..', 'shared', 'corpus', 'tcpdump-tests');
const EXPECTED_FILE = join(ROOT, 'test', 'fixtures', 'tcpdump-corpus-differences.json');
const RECORD = process.env['ASYMROUTE_CORPUS_RECORD'] === '1';

// Why each kind of difference is expected. A key is "<kind>" or "<kind>:<detail>"; the kind must be listed here.
const WHY: Record<string, string> = {
  'link-unsupported':
    'a link type the agent never captures (it reads LINUX_SLL2 from its own tcpdump); only Ethernet, SLL, SLL2, NULL/LOOP and raw IP are decoded (detail: the link type)',
  'link-truncated': 'the link header itself is cut short; tcpdump still prints what follows from a shorter or different header reading',
  'link-malformed': 'a link header field is invalid for our decoder while tcpdump prints on',
  other:
    'we decode the frame but not as IPv4/IPv6/ARP: an encapsulation we do not follow (detail: the outer EtherType tcpdump printed; 0x88e5 MACsec, 0x8847 MPLS, 0x894f NSH, 0xd28b Arista timestamp)',
  'ipv4-truncated': 'the IPv4 header or its total length exceeds the captured bytes; tcpdump prints the addresses it has',
  'ipv4-malformed': 'an invalid IPv4 header (length or version field) that tcpdump still prints addresses for',
  'ipv4-unsupported': 'an IPv4 header form we refuse',
  'ipv6-truncated': 'the IPv6 header or an extension header is cut short; tcpdump prints the addresses it has',
  'ipv6-malformed': 'an invalid IPv6 extension header chain that tcpdump still prints addresses for',
  'ipv6-unsupported': 'an IPv6 extension header we do not walk',
  'tcp-truncated': 'the TCP header is cut short: we refuse the packet, tcpdump prints the addresses and a partial header',
  'tcp-malformed': 'an invalid TCP data offset: we refuse the packet, tcpdump prints what it can',
  'udp-truncated': 'the UDP header is cut short: we refuse the packet, tcpdump prints the addresses',
  'udp-malformed': 'an invalid UDP length: we refuse the packet, tcpdump prints what it can',
  'icmp-truncated': 'the ICMP header is cut short: we refuse the packet, tcpdump prints the addresses',
  'icmpv6-truncated': 'the ICMPv6 header (or NDP body) is cut short: we refuse the packet, tcpdump prints the addresses',
  'icmpv6-malformed': 'an invalid NDP message: we refuse the packet, tcpdump prints the addresses',
  'arp-truncated': 'the ARP body is cut short: we refuse it, tcpdump prints the fields it has',
  'arp-unsupported': 'ARP for a hardware or protocol type other than Ethernet/IPv4 (only that form is used by the analysis)',
  'arp-malformed': 'an ARP body with invalid lengths that tcpdump still prints',
  'ports-missing': 'tcpdump prints ports of a transport we do not decode (detail: the IP protocol; 33 DCCP, 132 SCTP)',
  'ports-extra:tcpdump-stopped':
    'tcpdump stops at the transport header ("[|udp]", "[|tcp]"): IPv6 payload length 0 (BIG TCP, no jumbo option) is empty for tcpdump 4.99, we decode the captured bytes',
  'not-printed:tcpdump-stopped':
    'tcpdump stops at a header it finds short or inconsistent ("[|arp]") where our decoder takes the Ethernet/IPv4 ARP fields it needs',
  'not-printed:arp-op':
    'an ARP operation code other than request/reply: tcpdump prints "Unknown", we decode the fields (the analysis only uses ops 1 and 2)',
  'not-read:caplen-over-snaplen':
    "a record longer than the file's snapshot length: our reader stops there (every length read from a packet is checked), tcpdump prints on",
  'not-read:caplen-over-len': 'a record whose captured length exceeds its original length: our reader stops there, tcpdump prints on',
};

interface Printed {
  kind: 'ip' | 'arp';
  family: 4 | 6 | null;
  src: string;
  dst: string;
  sport: number | null;
  dport: number | null;
  flags: string | null;
  arpOp: 'Request' | 'Reply' | null;
  arpMac: string | null;
}

const V4 = String.raw`\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}`;
// IPv6 as tcpdump prints it: with "::" or all eight groups (so a MAC address never matches).
const V6 = String.raw`(?:(?:[0-9a-f]{1,4}:)*(?:[0-9a-f]{1,4})?::(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4})*)?|[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){7})(?:\.\d+\.\d+\.\d+(?=\.\d+ >|\.\d+:| >|:))?`;
const MISSING = String.raw`(?:truncated-ip6? - \d+ bytes missing! ?)?`;
const EXT = String.raw`(?:(?:HBH|DSTOPT|RT6 \([^)]*\)|frag \([^)]*\)|mobility: [^:]*?)\s+)*`;
const IP_PAIR = new RegExp(
  String.raw`(?:^|[\s:,(])${MISSING}(${V4}|${V6})(?:\.(\d+))? > (${V4}|${V6})(?:\.(\d+))?:\s*${EXT}${MISSING}(?:(\d+) > (\d+):)?`,
);
const ARP_LINE =
  /(?:\bARP, |ethertype ARP \(0x0806\), (?:length \d+: )?)(Request who-has (\S+)(?: \([^)]*\))? tell (\S+?),|Reply (\S+) is-at ([0-9a-f:]+),)/;
const FLAGS = /^\s*Flags \[([^\]]*)\]/;

/** What tcpdump printed first at the network layer for one packet: IPv4/IPv6 addresses, or ARP, or null. */
function parsePrinted(line: string): Printed | null {
  const ip = IP_PAIR.exec(line);
  const arp = ARP_LINE.exec(line);
  if (arp && (!ip || arp.index < ip.index)) {
    const req = arp[1]!.startsWith('Request');
    return {
      kind: 'arp',
      family: null,
      src: req ? arp[3]! : arp[4]!,
      dst: req ? arp[2]! : '',
      sport: null,
      dport: null,
      flags: null,
      arpOp: req ? 'Request' : 'Reply',
      arpMac: req ? null : arp[5]!,
    };
  }
  if (!ip) return null;
  const sport = ip[2] ?? ip[5];
  const dport = ip[4] ?? ip[6];
  const rest = line.slice(ip.index + ip[0].length);
  const f = /^\s*(?:[^,]*?, )?Flags \[([^\]]*)\]/.exec(rest) ?? FLAGS.exec(rest);
  return {
    kind: 'ip',
    family: ip[1]!.includes(':') ? 6 : 4,
    src: ip[1]!,
    dst: ip[3]!,
    sport: sport !== undefined ? Number(sport) : null,
    dport: dport !== undefined ? Number(dport) : null,
    flags: f && sport !== undefined ? f[1]! : null,
    arpOp: null,
    arpMac: null,
  };
}

const DIRECTION: Record<string, string> = { host: 'In', outgoing: 'Out', broadcast: 'B', multicast: 'M', otherhost: 'P', unknown: '?' };

// tcpdump's TCP flag letters, in its order (print-tcp.c tcp_flag_values).
const FLAG_LETTERS: Array<[number, string]> = [
  [0x01, 'F'],
  [0x02, 'S'],
  [0x04, 'R'],
  [0x08, 'P'],
  [0x10, '.'],
  [0x20, 'U'],
  [0x40, 'E'],
  [0x80, 'W'],
];
const flagText = (f: number) =>
  FLAG_LETTERS.filter(([b]) => f & b)
    .map(([, l]) => l)
    .join('') || 'none';

interface Tally {
  packets: number;
  printedNet: number;
  addresses: number;
  ports: number;
  flags: number;
  arp: number;
  directions: number;
}

interface Ours {
  d: PacketResult;
  linktype: number;
}

const readError = (e: Error | null) =>
  !e
    ? 'none'
    : /exceeds the snapshot length/.test(e.message)
      ? 'caplen-over-snaplen'
      : /exceeds the original length/.test(e.message)
        ? 'caplen-over-len'
        : 'format-error';

/** Compares one packet: null when it agrees, else the difference key. Counts the fields compared. */
function compare(line: string | undefined, o: Ours | undefined, stop: string, t: Tally): string | null {
  const p = line === undefined ? null : parsePrinted(line);
  if (o === undefined) return p ? `not-read:${stop}` : null;
  const d = o.d;
  if (!p)
    return d.ok && (d.kind === 'ip' || d.kind === 'arp')
      ? `not-printed:${d.kind === 'arp' && d.arp!.op !== 1 && d.arp!.op !== 2 ? 'arp-op' : line !== undefined && /\[\|\w+\]/.test(line) ? 'tcpdump-stopped' : d.kind}`
      : null;
  t.printedNet++;
  if (!d.ok) return d.layer === 'link' && d.reason === 'unsupported' ? `link-unsupported:${o.linktype}` : `${d.layer}-${d.reason}`;
  // Linux cooked captures: tcpdump -e prints the packet type first (In, Out, B, M, P).
  if (o.linktype === LINKTYPE.LINUX_SLL || o.linktype === LINKTYPE.LINUX_SLL2) {
    t.directions++;
    const printed = /^\s*(In|Out|B|M|P|\?)\s/.exec(line!)?.[1] ?? null;
    if (printed !== (d.direction ? DIRECTION[d.direction] : null)) return 'mismatch:direction';
  }
  if (d.kind === 'other') return `other:${/ethertype [^(]*\((0x[0-9a-f]{4})\)/.exec(line!)?.[1] ?? 'none'}`;
  if (p.kind === 'arp') {
    if (d.kind !== 'arp') return 'mismatch:kind';
    t.arp++;
    const a = d.arp!;
    if ((a.op === 1 ? 'Request' : a.op === 2 ? 'Reply' : `op${a.op}`) !== p.arpOp) return 'mismatch:arp-op';
    if (a.senderIp !== p.src) return 'mismatch:arp-sender';
    if (p.arpOp === 'Request' && a.targetIp !== p.dst) return 'mismatch:arp-target';
    if (p.arpOp === 'Reply' && a.senderMac !== p.arpMac) return 'mismatch:arp-mac';
    return null;
  }
  if (d.kind !== 'ip') return 'mismatch:kind';
  if (d.family !== p.family) return 'mismatch:family';
  t.addresses++;
  if (d.src !== p.src || d.dst !== p.dst) return 'mismatch:addresses';
  if (p.sport !== null && d.sport === null) return `ports-missing:${d.proto}`;
  if (p.sport === null && d.sport !== null) return /\[\|(tcp|udp)\]/.test(line!) ? 'ports-extra:tcpdump-stopped' : 'ports-extra';
  if (p.sport !== null) {
    t.ports++;
    if (d.sport !== p.sport || d.dport !== p.dport) return 'mismatch:ports';
  }
  if (p.flags !== null && d.proto === 6) {
    t.flags++;
    if (d.tcpFlags === null || flagText(d.tcpFlags) !== p.flags) return 'mismatch:tcp-flags';
  }
  return null;
}

function corpusFiles(): string[] {
  if (!existsSync(CORPUS)) throw new Error(`tcpdump corpus not found at ${CORPUS} (shared/ must sit beside the project root)`);
  return readdirSync(CORPUS)
    .filter((f) => /\.(pcap|pcapng)$/.test(f))
    .sort();
}

async function tcpdumpLines(path: string): Promise<Map<number, string>> {
  const r = await execa('tcpdump', ['-r', path, '-nn', '-e', '-t', '--number'], {
    reject: false,
    stdin: 'ignore',
    timeout: 30_000,
    env: { LC_ALL: 'C' },
  });
  const lines = new Map<number, string>();
  let current = 0;
  for (const line of String(r.stdout).split('\n')) {
    const m = /^\s*(\d+)\s\s(.*)$/.exec(line);
    if (m) {
      current = Number(m[1]);
      lines.set(current, m[2]!);
    } else if (current) lines.set(current, `${lines.get(current)} ${line.trim()}`);
  }
  return lines;
}

describe('tcpdump test-suite corpus', () => {
  it('reads and decodes every file without an exception', () => {
    const files = corpusFiles();
    expect(files.length).toBeGreaterThan(800);
    const outcomes = new Map<string, number>();
    let packets = 0;
    let formatErrors = 0;
    for (const f of files) {
      const r = readCaptureFile(readFileSync(join(CORPUS, f)), (rec) => {
        packets++;
        const d = decodePacket(rec.linktype, rec.buf, rec.off, rec.caplen);
        const k = d.ok ? `ok:${d.kind}` : `${d.layer}:${d.reason}`;
        outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
      });
      if (r.error) formatErrors++;
    }
    console.log(
      `corpus: ${files.length} files, ${packets} packets, ${formatErrors} files with a format error; ${JSON.stringify([...outcomes].sort())}`,
    );
    expect(packets).toBeGreaterThan(5000);
    expect([...outcomes.keys()].some((k) => k.endsWith(':truncated'))).toBe(true);
    expect([...outcomes.keys()].some((k) => k.endsWith(':malformed'))).toBe(true);
  });

  it(
    'agrees with tcpdump -nn -e on every packet it prints as IPv4, IPv6 or ARP, except the listed differences',
    { timeout: 600_000 },
    async () => {
      const files = corpusFiles();
      const expected = JSON.parse(readFileSync(EXPECTED_FILE, 'utf8')) as Record<string, Record<string, number>>;
      const t: Tally = { packets: 0, printedNet: 0, addresses: 0, ports: 0, flags: 0, arp: 0, directions: 0 };
      const actual: Record<string, Record<string, number>> = {};
      const examples = new Map<string, string>();
      const queue = [...files];
      // Two tcpdumps at a time: the machine has two cores.
      const worker = async () => {
        for (let f = queue.shift(); f !== undefined; f = queue.shift()) {
          const path = join(CORPUS, f);
          const ours: Ours[] = [];
          const read = readCaptureFile(readFileSync(path), (rec) => {
            ours.push({ d: decodePacket(rec.linktype, rec.buf, rec.off, rec.caplen), linktype: rec.linktype });
          });
          const stop = readError(read.error);
          const lines = await tcpdumpLines(path);
          const last = Math.max(ours.length, ...lines.keys());
          const diffs: Record<string, number> = {};
          for (let n = 1; n <= last; n++) {
            const line = lines.get(n);
            t.packets++;
            const key = compare(line, ours[n - 1], stop, t);
            if (key === null) continue;
            diffs[key] = (diffs[key] ?? 0) + 1;
            if (!examples.has(`${f} ${key}`))
              examples.set(
                `${f} ${key}`,
                `${f} #${n} ${key}: tcpdump "${(line ?? '(nothing)').slice(0, 200)}"; ours ${JSON.stringify(ours[n - 1]?.d ?? null, (k, v) => (k === 'ndp' ? undefined : v)).slice(0, 300)}`,
              );
          }
          if (Object.keys(diffs).length > 0) actual[f] = Object.fromEntries(Object.entries(diffs).sort());
        }
      };
      await Promise.all([worker(), worker()]);
      const sorted = Object.fromEntries(Object.entries(actual).sort(([a], [b]) => a.localeCompare(b)));
      const differences = Object.values(actual).reduce((a, d) => a + Object.values(d).reduce((x, y) => x + y, 0), 0);
      console.log(
        `tcpdump oracle: ${files.length} files, ${t.packets} packets, ${t.printedNet} printed as IPv4/IPv6/ARP; compared: ${t.addresses} packets' addresses, ` +
          `${t.ports} ports, ${t.flags} TCP flags, ${t.arp} ARP, ${t.directions} SLL directions; ${differences} listed differences in ${Object.keys(actual).length} files`,
      );
      if (process.env['ASYMROUTE_CORPUS_EXAMPLES'])
        writeFileSync(process.env['ASYMROUTE_CORPUS_EXAMPLES'], [...examples.values()].join('\n'));
      if (RECORD) writeFileSync(EXPECTED_FILE, `${JSON.stringify(sorted, null, 1)}\n`);
      const kinds = new Set(Object.values(sorted).flatMap((d) => Object.keys(d)));
      const unexplained = [...kinds].filter((k) => WHY[k] === undefined && WHY[k.split(':')[0]!] === undefined);
      expect(
        unexplained,
        [...examples.entries()]
          .filter(([k]) => unexplained.includes(k.split(' ')[1]!))
          .slice(0, 20)
          .map(([, v]) => v)
          .join('\n'),
      ).toEqual([]);
      const changed = [...new Set([...Object.keys(sorted), ...Object.keys(expected)])].filter(
        (f) => JSON.stringify(sorted[f] ?? {}) !== JSON.stringify(expected[f] ?? {}),
      );
      const detail = changed.slice(0, 20).map(
        (f) =>
          `${f}: expected ${JSON.stringify(expected[f] ?? {})}, got ${JSON.stringify(sorted[f] ?? {})}\n  ${[...examples]
            .filter(([k]) => k.startsWith(`${f} `))
            .map(([, v]) => v)
            .slice(0, 2)
            .join('\n  ')}`,
      );
      expect(changed, detail.join('\n')).toEqual([]);
      expect(files.length).toBeGreaterThan(800);
    },
  );
});
