// The capture source: filter construction (compiled by tcpdump itself, as root), tcpdump's statistics, and the
// handling of a child that falls back to plain SLL, exits, or is missing (a small executable stands in for tcpdump).

import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { buildFilter, parseTcpdumpStats, TCPDUMP_MISSING_MESSAGE, TcpdumpCapture, type CaptureEvent } from '../../agent/sources/capture.js';
import { InvalidArgumentError } from '../../agent/sources/validate.js';
import { describeAsRoot } from '../helpers/root.js';
import { until } from '../helpers/wait.js';

describe('buildFilter', () => {
  it('builds host terms from validated, canonical addresses', () => {
    expect(buildFilter(['192.168.1.240', '2001:DB8::0:1', '192.168.1.240'])).toBe('host 192.168.1.240 or host 2001:db8::1 or arp or (icmp6 and (ip6[40] == 135 or ip6[40] == 136))');
    expect(buildFilter(['10.0.0.1'])).toBe('host 10.0.0.1 or arp');
    expect(buildFilter(['10.0.0.1'], { bgp: true })).toBe('host 10.0.0.1 or arp or tcp port 179');
    expect(buildFilter(['10.0.0.1'], { arp: false })).toBe('host 10.0.0.1');
  });
  it.each(['10.0.0.1 or net 0.0.0.0/0', '10.0.0.1) or (tcp', '', 'host'])('refuses %j', (v) => {
    expect(() => buildFilter([v])).toThrow(InvalidArgumentError);
  });
  it('refuses bad sizes and interface names before anything runs', () => {
    const onPacket = () => undefined;
    expect(() => new TcpdumpCapture({ vips: ['10.0.0.1'], snaplen: 10, onPacket })).toThrow(/invalid snaplen 10/);
    expect(() => new TcpdumpCapture({ vips: ['10.0.0.1'], iface: '-w/etc/passwd', onPacket })).toThrow(/invalid interface name/);
    expect(new TcpdumpCapture({ vips: ['10.0.0.1'], onPacket }).args).toEqual(['-i', 'any', '-y', 'LINUX_SLL2', '--immediate-mode', '-U', '-n', '-w', '-', '-s', '192', '-B', '4096', 'host 10.0.0.1 or arp']);
  });
});

it('parses the statistics tcpdump prints on SIGUSR1', () => {
  expect(parseTcpdumpStats('12 packets captured\n15 packets received by filter\n3 packets dropped by kernel\n')).toEqual({ captured: 12, receivedByFilter: 15, droppedByKernel: 3 });
  expect(parseTcpdumpStats('1 packet captured\n1 packet received by filter\n0 packets dropped by kernel')).toEqual({ captured: 1, receivedByFilter: 1, droppedByKernel: 0 });
  expect(parseTcpdumpStats('listening on any')).toBeNull();
});

describe('TcpdumpCapture child handling', () => {
  it('says loudly when the stream is not LINUX_SLL2, and restarts an exited child with growing backoff', async () => {
    // Stand-in: writes a pcap header with link type 113 (LINUX_SLL) and one record, then exits 1.
    const dir = mkdtempSync(join(tmpdir(), 'asymroute-fake-'));
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
    const c = new TcpdumpCapture({ vips: ['10.0.0.1'], binary: bin, backoffMs: 50, maxBackoffMs: 120, onPacket: (_b, _o, caplen, _l, ts, lt) => packets.push(caplen, ts, lt), onEvent: (e) => events.push(e) });
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
    const c = new TcpdumpCapture({ vips: ['10.0.0.1'], binary: '/nonexistent/tcpdump', backoffMs: 10_000, onPacket: () => undefined, onEvent: (e) => events.push(e) });
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
