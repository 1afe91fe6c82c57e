// The capture source: filter construction (compiled by tcpdump itself, as root), tcpdump's statistics, and the
// handling of a child that falls back to plain SLL, exits, or is missing (a small executable stands in for tcpdump).

import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { Restarter } from '../../agent/supervisor/restarter.js';
import {
  buildFilter,
  MAX_FILTER_TERMS,
  parseTcpdumpStats,
  TCPDUMP_MISSING_MESSAGE,
  TcpdumpCapture,
  vipNets,
  type CaptureEvent,
} from '../../agent/capture/tcpdump.js';
import { LINKTYPE } from '../../agent/decoders/link.js';
import { readCaptureFile } from '../../agent/parsers/capture-file.js';
import { arpRequest, ipv4Packet, ipv6Packet, pcapFile, sll2, tcpSegment } from '../../bench/frames.js';
import { InvalidArgumentError } from '../../agent/sources/validate.js';
import { describeAsRoot, prng } from '../helpers/root.js';
import { until } from '../helpers/wait.js';
import { tempDir } from '../helpers/tmp.js';

describe('buildFilter', () => {
  it('builds address terms from validated, canonical addresses; without sampling every packet to or from a VIP', () => {
    expect(buildFilter(['192.168.1.240', '2001:DB8::0:1', '192.168.1.240'])).toBe(
      '(ip and (dst host 192.168.1.240 or src host 192.168.1.240)) or (ip6 and (dst host 2001:db8::1 or src host 2001:db8::1)) or (arp and host 192.168.1.240) or (icmp6 and (ip6[40] == 135 or ip6[40] == 136))',
    );
    expect(buildFilter(['10.0.0.1'], { bgp: true })).toBe(
      '(ip and (dst host 10.0.0.1 or src host 10.0.0.1)) or (arp and host 10.0.0.1) or tcp port 179',
    );
    expect(buildFilter(['10.0.0.1'], { arp: false })).toBe('(ip and (dst host 10.0.0.1 or src host 10.0.0.1))');
    // Four consecutive aligned addresses are one net.
    expect(buildFilter(['10.0.0.3', '10.0.0.0', '10.0.0.2', '10.0.0.1', '10.0.0.9'], { arp: false })).toBe(
      '(ip and ((dst net 10.0.0.0/30 or dst host 10.0.0.9) or (src net 10.0.0.0/30 or src host 10.0.0.9)))',
    );
  });
  it.each(['10.0.0.1 or net 0.0.0.0/0', '10.0.0.1) or (tcp', '', 'host'])('refuses %j', (v) => {
    expect(() => buildFilter([v])).toThrow(InvalidArgumentError);
  });
  it('refuses a sample outside 0..16 bits', () => {
    for (const b of [-1, 17, 1.5]) expect(() => buildFilter(['10.0.0.1'], { sample: { flows: b } })).toThrow(/flow sample bits/);
    for (const b of [-1, 17]) expect(() => buildFilter(['10.0.0.1'], { sample: { tcpData: b } })).toThrow(/TCP data sample bits/);
  });
  it('refuses bad sizes and interface names before anything runs', () => {
    const onPacket = () => undefined;
    expect(() => new TcpdumpCapture({ vips: ['10.0.0.1'], snaplen: 10, onPacket })).toThrow(/invalid snaplen 10/);
    expect(() => new TcpdumpCapture({ vips: ['10.0.0.1'], iface: '-w/etc/passwd', onPacket })).toThrow(/invalid interface name/);
    expect(new TcpdumpCapture({ vips: ['10.0.0.1'], onPacket }).args).toEqual([
      '-i',
      'any',
      '-y',
      'LINUX_SLL2',
      '-U',
      '-n',
      '-w',
      '-',
      '-s',
      '192',
      '-B',
      '4096',
      buildFilter(['10.0.0.1']),
    ]);
  });
});

// Which packets the filter keeps, decided by tcpdump itself (tcpdump -r IN -w OUT FILTER, no root needed) on frames
// made here, against the rule written out independently below.
describe('the capture filter in tcpdump', () => {
  const dir = mkdtempSync(join(tmpdir(), 'asymroute-filter-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const VIP4 = '10.0.0.1';
  const VIP6 = '2001:db8::1';
  const SYN = 0x02;
  const ACK = 0x10;

  interface Case {
    frame: number[];
    keep: boolean;
    what: string;
  }

  async function kept(frames: number[][], filter: string): Promise<Set<number>> {
    const [inp, out] = [join(dir, 'in.pcap'), join(dir, 'out.pcap')];
    writeFileSync(inp, pcapFile(LINKTYPE.LINUX_SLL2, frames));
    const r = await execa('tcpdump', ['-r', inp, '-w', out, filter], { reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    const got = new Set<number>();
    readCaptureFile(readFileSync(out), (rec) => got.add(Math.round(rec.tsMs / 1000) - 1_700_000_000));
    return got;
  }

  it('keeps TCP SYN/FIN/RST always, TCP and UDP data of sampled client ports in both directions, ARP and other protocols of VIPs', async () => {
    const r = prng(13);
    const bits = 3;
    const cases: Case[] = [];
    const covered = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const v6 = r() < 0.3;
      const vip = v6 ? VIP6 : VIP4;
      const client = v6 ? '2001:db8:9::7' : '203.0.113.7';
      const cport = 1024 + Math.floor(r() * 60000);
      const vport = r() < 0.5 ? 443 : 53;
      const request = r() < 0.5;
      const toVip = r() < 0.9; // else a packet between two other hosts
      const kind = ['syn', 'fin', 'rst', 'data', 'udp', 'icmp'][Math.floor(r() * 6)]!;
      const [src, dst] = toVip
        ? request
          ? [client, vip]
          : [vip, client]
        : v6
          ? ['2001:db8:9::8', '2001:db8:9::9']
          : ['203.0.113.8', '203.0.113.9'];
      const [sport, dport] = request ? [cport, vport] : [vport, cport];
      const flags = { syn: SYN, fin: 0x11, rst: 0x04, data: ACK }[kind as 'syn'] ?? ACK;
      const proto = kind === 'udp' ? 17 : kind === 'icmp' ? (v6 ? 58 : 1) : 6;
      const l4 =
        proto === 6
          ? tcpSegment({ src, dst, sport, dport, flags, payload: kind === 'data' ? 10 : 0 })
          : proto === 17
            ? [sport >> 8, sport & 255, dport >> 8, dport & 255, 0, 12, 0, 0, 1, 2, 3, 4]
            : [v6 ? 128 : 8, 0, 0, 0, 0, 1, 0, 1];
      const ip = v6 ? ipv6Packet(src, dst, proto, l4) : ipv4Packet(src, dst, proto, l4);
      const control = proto === 6 && kind !== 'data';
      const sampled = (cport & ((1 << bits) - 1)) === 0;
      const keep = toVip && (control || (proto !== 6 && proto !== 17) || sampled);
      covered.add(`${keep}|${kind}|${sampled}`);
      cases.push({
        frame: sll2(v6 ? 0x86dd : 0x0800, 2, request ? 'host' : 'outgoing', ip),
        keep,
        what: `${kind} ${src}:${sport} > ${dst}:${dport}`,
      });
    }
    // Sampled client ports are rare at random: add some.
    for (const cport of [4096, 4104, 65528]) {
      for (const request of [true, false]) {
        const [src, dst, sport, dport] = request ? ['203.0.113.7', VIP4, cport, 443] : [VIP4, '203.0.113.7', 443, cport];
        cases.push({
          frame: sll2(
            0x0800,
            2,
            request ? 'host' : 'outgoing',
            ipv4Packet(src, dst, 6, tcpSegment({ src, dst, sport, dport, flags: ACK, payload: 10 })),
          ),
          keep: true,
          what: `sampled data ${src}:${sport} > ${dst}:${dport}`,
        });
        covered.add(`true|data|true`);
      }
    }
    cases.push({ frame: sll2(0x0806, 2, 'host', arpRequest('10.0.0.254', VIP4)), keep: true, what: 'ARP who-has VIP' });
    cases.push({ frame: sll2(0x0806, 2, 'host', arpRequest('10.0.0.254', '10.0.0.77')), keep: false, what: 'ARP who-has another address' });
    for (const k of [
      'true|syn|false',
      'true|fin|false',
      'true|rst|false',
      'false|data|false',
      'false|udp|false',
      'true|udp|true',
      'true|icmp|false',
      'false|syn|false',
    ])
      expect(covered, k).toContain(k);
    const got = await kept(
      cases.map((c) => c.frame),
      buildFilter([VIP4, VIP6], { sample: { flows: bits } }),
    );
    const wrong = cases
      .map((c, i) => ({ ...c, i }))
      .filter((c) => got.has(c.i) !== c.keep)
      .map((c) => `${c.keep ? 'dropped' : 'kept'}: ${c.what}`);
    expect(wrong).toEqual([]);
  });

  it('within sampled flows, thins TCP data by sequence + acknowledgment bits and IPv4 UDP by IP ID, both directions alike', async () => {
    const r = prng(29);
    const [flowBits, dataBits, udpBits] = [2, 3, 2];
    const u32 = () => Math.floor(r() * 2 ** 32);
    const cases: Case[] = [];
    const covered = new Map<string, number>();
    for (let i = 0; i < 400; i++) {
      const v6 = r() < 0.35;
      const vip = v6 ? VIP6 : VIP4;
      const client = v6 ? '2001:db8:9::7' : '203.0.113.7';
      // Mostly sampled client ports (the thinning applies inside the sample only).
      const cport = r() < 0.8 ? (1024 + Math.floor(r() * 15000)) << flowBits : 1025 + 4 * Math.floor(r() * 15000);
      const request = r() < 0.5;
      const kind = ['data', 'data', 'udp', 'syn', 'fin'][Math.floor(r() * 5)]!;
      const [src, dst] = request ? [client, vip] : [vip, client];
      const [sport, dport] = request ? [cport, 443] : [443, cport];
      const seq = u32();
      const ack = u32();
      const id = r() < 0.15 ? 0 : Math.floor(r() * 65536);
      const proto = kind === 'udp' ? 17 : 6;
      const flags = kind === 'syn' ? SYN : kind === 'fin' ? 0x11 : ACK;
      const l4 =
        proto === 6
          ? tcpSegment({ src, dst, sport, dport, flags, seq, ack, payload: 10 })
          : [sport >> 8, sport & 255, dport >> 8, dport & 255, 0, 12, 0, 0, 1, 2, 3, 4];
      const ip = v6 ? ipv6Packet(src, dst, proto, l4) : ipv4Packet(src, dst, proto, l4, { id });
      // The rule, written out: control always; else only sampled flows, and then 1 in 2^bits by the field.
      const sampled = cport % (1 << flowBits) === 0;
      const thinTcp = Math.floor(((seq + ack) % 2 ** 32) / 1024) % (1 << dataBits) === 0;
      const thinUdp = v6 || id % (1 << udpBits) === 0;
      const keep = kind === 'syn' || kind === 'fin' || (sampled && (proto === 6 ? thinTcp : thinUdp));
      const k = `${v6 ? 6 : 4}|${kind === 'data' || kind === 'udp' ? kind : 'control'}|${sampled}|${keep}`;
      covered.set(k, (covered.get(k) ?? 0) + 1);
      cases.push({
        frame: sll2(v6 ? 0x86dd : 0x0800, 2, request ? 'host' : 'outgoing', ip),
        keep,
        what: `${kind} ${src}:${sport} > ${dst}:${dport} seq ${seq} ack ${ack} id ${id}`,
      });
    }
    // What the generator covered: kept and dropped data in both families, UDP kept and dropped in IPv4, control kept.
    for (const k of [
      '4|data|true|true',
      '4|data|true|false',
      '6|data|true|true',
      '6|data|true|false',
      '4|udp|true|true',
      '4|udp|true|false',
      '6|udp|true|true',
      '4|data|false|false',
      '4|control|false|true',
      '6|control|true|true',
    ])
      expect(covered.get(k) ?? 0, k).toBeGreaterThan(0);
    const got = await kept(
      cases.map((c) => c.frame),
      buildFilter([VIP4, VIP6], { sample: { flows: flowBits, tcpData: dataBits, udp: udpBits } }),
    );
    const wrong = cases
      .map((c, i) => ({ ...c, i }))
      .filter((c) => got.has(c.i) !== c.keep)
      .map((c) => `${c.keep ? 'dropped' : 'kept'}: ${c.what}`);
    expect(wrong).toEqual([]);
  });

  it("stays bounded with a thousand VIPs: tcpdump compiles it, and every VIP's SYN still passes", async () => {
    const r = prng(17);
    const vips = Array.from({ length: 1000 }, () => `10.${Math.floor(r() * 4)}.${Math.floor(r() * 256)}.${Math.floor(r() * 256)}`);
    const f = buildFilter(vips, { sample: { flows: 4, tcpData: 6 } });
    expect((f.match(/dst (host|net) /g) ?? []).length).toBeLessThanOrEqual(MAX_FILTER_TERMS);
    const frames = vips.map((v) =>
      sll2(0x0800, 2, 'host', ipv4Packet('203.0.113.7', v, 6, tcpSegment({ src: '', dst: '', sport: 40001, dport: 443, flags: SYN }))),
    );
    const got = await kept(frames, f);
    expect(got.size).toBe(vips.length);
    const exact = vipNets([0x0a000001n, 0x0a000002n, 0x0a000003n], 32);
    expect(exact).toEqual([
      { value: 0x0a000001n, len: 32 },
      { value: 0x0a000002n, len: 31 },
    ]);
  });
});

it('parses the statistics tcpdump prints on SIGUSR1', () => {
  expect(parseTcpdumpStats('12 packets captured\n15 packets received by filter\n3 packets dropped by kernel\n')).toEqual({
    captured: 12,
    receivedByFilter: 15,
    droppedByKernel: 3,
  });
  expect(parseTcpdumpStats('1 packet captured\n1 packet received by filter\n0 packets dropped by kernel')).toEqual({
    captured: 1,
    receivedByFilter: 1,
    droppedByKernel: 0,
  });
  expect(parseTcpdumpStats('listening on any')).toBeNull();
});

describe('TcpdumpCapture child handling', () => {
  it('says loudly when the stream is not LINUX_SLL2, and restarts an exited child with growing backoff', async () => {
    // Stand-in: writes a pcap header with link type 113 (LINUX_SLL) and one record, then exits 1.
    const dir = tempDir('fake');
    const bin = join(dir, 'fake-tcpdump');
    writeFileSync(
      bin,
      `#!${process.execPath}
const h = Buffer.alloc(24); h.writeUInt32LE(0xa1b2c3d4, 0); h.writeUInt16LE(2, 4); h.writeUInt16LE(4, 6); h.writeUInt32LE(192, 16); h.writeUInt32LE(113, 20);
const r = Buffer.alloc(16); r.writeUInt32LE(5, 0); r.writeUInt32LE(7, 4); r.writeUInt32LE(16, 8); r.writeUInt32LE(16, 12);
process.stdout.write(Buffer.concat([h, r, Buffer.alloc(16)]), () => { process.stderr.write('tcpdump: something broke\\n'); process.exit(1); });
`,
    );
    chmodSync(bin, 0o755);
    const events: CaptureEvent[] = [];
    const packets: number[] = [];
    // Jitter drawn as 0: the delays are the un-jittered backoff (test/supervisor covers the jitter itself).
    const restarter = new Restarter('tcpdump', { initialMs: 50, maxMs: 120, random: () => 0 });
    const c = new TcpdumpCapture({
      vips: ['10.0.0.1'],
      binary: bin,
      restarter,
      onPacket: (_b, _o, caplen, _l, ts, lt) => packets.push(caplen, ts, lt),
      onEvent: (e) => events.push(e),
    });
    await c.start();
    await until(() => c.restarts >= 3);
    await c.stop();
    expect(packets.slice(0, 3)).toEqual([16, 5000.007, 113]);
    const lt = events.find((e) => e.type === 'linktype');
    expect(lt).toMatchObject({ linktype: 113, ok: false });
    expect((lt as { message: string }).message).toMatch(/LIVE EVIDENCE IS UNAVAILABLE/);
    const exits = events.filter((e) => e.type === 'exited') as Array<Extract<CaptureEvent, { type: 'exited' }>>;
    expect(exits[0]).toMatchObject({ code: 1, stderr: 'tcpdump: something broke' });
    expect(exits.slice(0, 3).map((e) => e.restartInMs)).toEqual([50, 100, 120]);
  });

  it('names the package when tcpdump is missing', async () => {
    const events: CaptureEvent[] = [];
    const c = new TcpdumpCapture({
      vips: ['10.0.0.1'],
      binary: '/nonexistent/tcpdump',
      backoffMs: 10_000,
      onPacket: () => undefined,
      onEvent: (e) => events.push(e),
    });
    await c.start();
    await until(() => events.some((e) => e.type === 'exited'));
    await c.stop();
    expect(events.find((e) => e.type === 'exited')).toMatchObject({ stderr: TCPDUMP_MISSING_MESSAGE });
  });
});

describeAsRoot('capture filter', () => {
  it('compiles with tcpdump itself (tcpdump -d) for LINUX_SLL2', async () => {
    const f = buildFilter(['192.168.1.240', '2001:db8::1'], { bgp: true });
    const r = await execa('tcpdump', ['-y', 'LINUX_SLL2', '-i', 'any', '-d', f], { reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/jeq\s+#0x86dd/);
    expect(r.stdout).toMatch(/#0x87/); // 135 = 0x87, neighbour solicitation
    expect(r.stdout).toMatch(/#0xb3/); // 179, BGP
  });
});
