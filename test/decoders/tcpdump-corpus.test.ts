// Third-party robustness: every capture of tcpdump's own test suite (many deliberately malformed) is read and
// decoded without an exception; for Ethernet, SLL and raw-IP files the IPv4/IPv6 addresses and TCP/UDP ports of
// every packet we decode fully must appear in what `tcpdump -r FILE -nn` prints for that packet.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { decodePacket } from '../../agent/decoders/packet.js';
import { LINKTYPE } from '../../agent/decoders/link.js';
import { readCaptureFile } from '../../agent/parsers/capture-file.js';
import { ROOT } from '../helpers/cli.js';

const CORPUS = join(ROOT, '..', 'shared', 'corpus', 'tcpdump-tests');
const ORACLE_LINKTYPES = new Set<number>([LINKTYPE.ETHERNET, LINKTYPE.LINUX_SLL, LINKTYPE.LINUX_SLL2, LINKTYPE.RAW, LINKTYPE.RAW_DLT12, LINKTYPE.RAW_DLT14, LINKTYPE.IPV4, LINKTYPE.IPV6]);

function corpusFiles(): string[] {
  if (!existsSync(CORPUS)) throw new Error(`tcpdump corpus not found at ${CORPUS} (shared/ must sit beside the project root)`);
  return readdirSync(CORPUS).filter((f) => /\.(pcap|pcapng)$/.test(f)).sort();
}

interface Expect {
  n: number;
  src: string;
  dst: string;
  sport: number | null;
  dport: number | null;
}

// tcpdump 4.99 treats an IPv6 payload length of 0 without a jumbo option as empty ("[|tcp]"); Linux BIG TCP
// writes exactly that, and we decode the captured bytes. Only these files may show that difference.
const BIG_TCP_FILES = /^bigtcp-/;

const V4 = String.raw`\d+\.\d+\.\d+\.\d+`;
const V6 = String.raw`[0-9a-f:]*:[0-9a-f:.]*?`;
const MISSING = String.raw`truncated-ip6? - \d+ bytes missing! ?`;
const EXT = String.raw`(?:HBH|DSTOPT|RT6 \([^)]*\)|frag \(\S+\))`;
const LINE = new RegExp(String.raw`\b(IP6?) (?:${MISSING})?(${V4}|${V6})(?:\.(\d+))? > (${V4}|${V6})(?:\.(\d+))?:(?: ${EXT} (?:${MISSING})?(\d+) > (\d+):)?`);

/** The first IP line tcpdump printed for a packet: addresses and, when it printed them, ports. */
function parseTcpdump(line: string): { src: string; dst: string; sport: number | null; dport: number | null } | null {
  const m = LINE.exec(line);
  if (!m) return null;
  const sport = m[3] ?? m[6];
  const dport = m[5] ?? m[7];
  return { src: m[2]!, dst: m[4]!, sport: sport !== undefined ? Number(sport) : null, dport: dport !== undefined ? Number(dport) : null };
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
    console.log(`corpus: ${files.length} files, ${packets} packets, ${formatErrors} files with a format error; ${JSON.stringify([...outcomes].sort())}`);
    expect(packets).toBeGreaterThan(5000);
    expect(outcomes.get('ok:ip')).toBeGreaterThan(3000);
    expect([...outcomes.keys()].some((k) => k.endsWith(':truncated'))).toBe(true);
    expect([...outcomes.keys()].some((k) => k.endsWith(':malformed'))).toBe(true);
  });

  it('agrees with tcpdump on addresses and ports (Ethernet, SLL, raw IP)', { timeout: 240_000 }, async () => {
    let files = 0;
    let compared = 0;
    let portsCompared = 0;
    const mismatches: string[] = [];
    for (const f of corpusFiles()) {
      const path = join(CORPUS, f);
      const expects: Expect[] = [];
      let n = 0;
      let oracle = true;
      readCaptureFile(readFileSync(path), (rec) => {
        n++;
        if (!ORACLE_LINKTYPES.has(rec.linktype)) {
          oracle = false;
          return;
        }
        const d = decodePacket(rec.linktype, rec.buf, rec.off, rec.caplen);
        if (!d.ok || d.kind !== 'ip') return;
        expects.push({ n, src: d.src!, dst: d.dst!, sport: d.sport, dport: d.dport });
      });
      if (!oracle || expects.length === 0) continue;
      files++;
      const r = await execa('tcpdump', ['-r', path, '-nn', '-t', '--number'], { reject: false, stdin: 'ignore', timeout: 30_000, env: { LC_ALL: 'C' } });
      const lines = new Map<number, string>();
      let current = 0;
      for (const line of String(r.stdout).split('\n')) {
        const m = /^\s*(\d+)\s\s(.*)$/.exec(line);
        if (m) {
          current = Number(m[1]);
          lines.set(current, m[2]!);
        } else if (current) lines.set(current, `${lines.get(current)} ${line.trim()}`);
      }
      for (const e of expects) {
        const line = lines.get(e.n);
        if (line === undefined) continue; // tcpdump stopped earlier (a record it refused)
        const t = parseTcpdump(line);
        const ours = `${e.src}${e.sport !== null ? `.${e.sport}` : ''} > ${e.dst}${e.dport !== null ? `.${e.dport}` : ''}`;
        if (!t) {
          if (mismatches.length < 20) mismatches.push(`${f} #${e.n}: we decoded "${ours}", tcpdump printed no IP line: "${line.slice(0, 160)}"`);
          continue;
        }
        compared++;
        let ok = t.src === e.src && t.dst === e.dst;
        if (ok && e.sport !== null && t.sport !== null) {
          portsCompared++;
          ok = t.sport === e.sport && t.dport === e.dport;
        } else if (ok && e.sport !== null && t.sport === null && !(BIG_TCP_FILES.test(f) && /\[\|(tcp|udp)\]/.test(line))) {
          ok = false;
        }
        if (!ok && mismatches.length < 20) mismatches.push(`${f} #${e.n}: we decoded "${ours}", tcpdump printed "${line.slice(0, 160)}"`);
      }
    }
    console.log(`tcpdump oracle: ${files} files, ${compared} packets' addresses and ${portsCompared} packets' ports compared, ${mismatches.length} mismatches`);
    expect(mismatches).toEqual([]);
    expect(compared).toBeGreaterThan(4000);
    expect(portsCompared).toBeGreaterThan(2500);
  });
});
