// The findings test/analysis/model-findings.test.ts raises from made-up inputs, raised here for real reasons: the
// routing changes while `check` runs (the kernel answers from the new state: route-model-mismatch), a rule selects on
// the IP protocol (route-model-unknown), and a real capture in LINUX_SLL v1, which has no interface index
// (capture-without-interfaces).

import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterEach, expect, it } from 'vitest';
import { buildIncidentLab, type IncidentLab } from '../../agent/netns/incident-lab.js';
import { startTcpServer, tcpConnect, type TcpServer } from '../../agent/netns/netns.js';
import { checkJson, findingTypes, runCli } from '../helpers/cli.js';
import { describeAsRoot } from '../helpers/root.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

const PORT = 8443;

describeAsRoot('route-model and capture findings for real reasons', () => {
  let lab: IncidentLab | null = null;
  let server: TcpServer | null = null;
  const procs: ResultPromise[] = [];
  afterEach(async () => {
    for (const p of procs) p.kill('SIGKILL');
    await Promise.allSettled(procs);
    procs.length = 0;
    await server?.stop();
    server = null;
    await lab?.lab.destroy();
    lab = null;
  });

  it('route-model-mismatch when a rule comes and goes while the check runs, and none once it stops', { timeout: 120_000 }, async () => {
    const l = (lab = await buildIncidentLab('armism'));
    await l.node.ip(['route', 'add', 'default', 'via', l.lanGateway, 'dev', 'eth1', 'table', '100']);
    // The policy-routing fix added and removed in a loop (bounded): the snapshot sees one state, a later question the other.
    let stop = false;
    let flips = 0;
    const flipper = (async () => {
      while (!stop && flips < 4000) {
        await l.node.ip(['rule', flips % 2 === 0 ? 'add' : 'del', 'from', l.vip, 'lookup', '100', 'priority', '100']);
        flips++;
      }
    })();
    const check = () => checkJson(['--vip', l.vip, '--client', l.clientCidr], l.node);
    let mismatch: Awaited<ReturnType<typeof check>>['report']['findings'] = [];
    try {
      for (let i = 0; i < 10 && mismatch.length === 0; i++)
        mismatch = (await check()).report.findings.filter((f) => f.type === 'route-model-mismatch');
    } finally {
      stop = true;
      await flipper;
    }
    expect(flips).toBeGreaterThan(0);
    expect(mismatch.length).toBeGreaterThan(0);
    const f = mismatch[0]!;
    expect(f.summary).toMatch(/^the route model disagrees with the kernel for replies to \S+: the kernel's answer is used$/);
    // One side saw the rule (replies by eth1), the other did not (eth0).
    const kernel = f.evidence.find((e) => e.startsWith('kernel: '))!;
    const model = f.evidence.find((e) => e.startsWith('model: '))!;
    expect([kernel, model].map((e) => (/dev (eth[01])/.exec(e) ?? [])[1]).sort()).toEqual(['eth0', 'eth1']);
    // Settled (the rule is gone after an even number of flips, or removed here): the model and the kernel agree.
    if (flips % 2 === 1) await l.node.ip(['rule', 'del', 'from', l.vip, 'lookup', '100', 'priority', '100']);
    const settled = await check();
    expect(findingTypes(settled.report)).toEqual(['asymmetric-reply-path', 'default-route-on-management-network']);
    expect(settled.report.vips[0]!.paths.map((p) => p.modelAgrees)).not.toContain(false);
  });

  it(
    'route-model-unknown when replies are policy-routed by IP protocol, while TCP replies really leave by eth1',
    { timeout: 60_000 },
    async () => {
      const l = (lab = await buildIncidentLab('arunk'));
      server = await startTcpServer(l.node, l.vip, PORT);
      // The fix, but for TCP only: the model does not evaluate ipproto, the kernel's question carries no protocol.
      await l.node.ip(['rule', 'add', 'from', l.vip, 'ipproto', 'tcp', 'lookup', '100', 'priority', '100']);
      await l.node.ip(['route', 'add', 'default', 'via', l.lanGateway, 'dev', 'eth1', 'table', '100']);
      const r = await checkJson(['--vip', l.vip, '--client', l.clientCidr], l.node);
      const unknown = r.report.findings.filter((f) => f.type === 'route-model-unknown');
      expect(unknown.length).toBeGreaterThan(0);
      expect(unknown[0]!.summary).toMatch(
        /^the route model cannot explain replies to \S+: rule 100 uses selectors the model does not evaluate \(ipproto "tcp"\)/,
      );
      expect(r.report.findings.map((f) => f.type)).not.toContain('route-model-mismatch');
      // The kernel follows the rule for TCP: the connection that the incident breaks succeeds.
      expect((await tcpConnect(l.client, l.vip, PORT, 3000)).ok).toBe(true);
    },
  );

  it(
    'capture-without-interfaces for a real LINUX_SLL capture, and not for LINUX_SLL2 of the same traffic',
    { timeout: 60_000 },
    async () => {
      const l = (lab = await buildIncidentLab('arnoif'));
      const dir = tempDir('noif');
      const files = { sll: join(dir, 'sll.pcap'), sll2: join(dir, 'sll2.pcap') };
      const stderr: Record<string, string> = { sll: '', sll2: '' };
      for (const [k, linktype] of [
        ['sll', 'LINUX_SLL'],
        ['sll2', 'LINUX_SLL2'],
      ] as const) {
        // Bounded by count: the client's SYNs (retransmitted) and the node's answers.
        const p = execa(
          'ip',
          [
            'netns',
            'exec',
            l.node.name,
            'tcpdump',
            '-i',
            'any',
            '-y',
            linktype,
            '-U',
            '-n',
            '-c',
            '6',
            '-w',
            files[k],
            `tcp and host ${l.vip}`,
          ],
          { reject: false, stdin: 'ignore', buffer: false },
        );
        p.stderr!.on('data', (d: Buffer) => (stderr[k] += String(d)));
        procs.push(p);
      }
      await until(
        () => stderr['sll']!.includes('listening on') && stderr['sll2']!.includes('listening on'),
        'both captures to start',
        10_000,
      );
      // No server: the node answers each SYN with a RST, by eth0 (the incident).
      let ended = 0;
      for (const p of procs) void p.finally(() => ended++);
      for (let i = 0; i < 10 && ended < procs.length; i++) await tcpConnect(l.client, l.vip, PORT, 500);
      await Promise.all(procs);
      const sll = await runCli(['analyze', files.sll, '--vip', l.vip, '--json']);
      const sll2 = await runCli(['analyze', files.sll2, '--vip', l.vip, '--json']);
      const types = (out: string) => (JSON.parse(out) as { findings: Array<{ type: string; summary: string }> }).findings;
      const noIf = types(sll.stdout).filter((f) => f.type === 'capture-without-interfaces');
      expect(noIf).toHaveLength(1);
      // Every packet in the file is VIP traffic, as tcpdump itself reads it back.
      const printed = (await execa('tcpdump', ['-nn', '-r', files.sll], { reject: false })).stdout
        .split('\n')
        .filter((x) => x.includes(l.vip));
      expect(printed).toHaveLength(6);
      expect(noIf[0]!.summary).toMatch(/^6 VIP packets carry no interface index \(not LINUX_SLL2\)/);
      expect(types(sll2.stdout).map((f) => f.type)).toEqual(['asymmetric-flows-observed']);
    },
  );
});
