// The live pipeline in namespaces: tcpdump in the node namespace -> pcap stream -> decoders -> flow matcher,
// while the client makes real TCP connections to the VIP; the incident, then the fix.

import { execa } from 'execa';
import { afterEach, expect, it } from 'vitest';
import { FlowMatcher } from '../../agent/analysis/flow-matcher.js';
import { decodePacket } from '../../agent/decoders/packet.js';
import { buildIncidentLab, fixByPolicyRouting, type IncidentLab } from '../../agent/netns/incident-lab.js';
import { startTcpServer, tcpConnect, type TcpServer } from '../../agent/netns/netns.js';
import { parseLinks } from '../../agent/parsers/ip-json.js';
import { Restarter } from '../../agent/supervisor/restarter.js';
import { LinkNames } from '../../agent/sources/link-names.js';
import { IpRunner } from '../../agent/sources/ip-command.js';
import { CAPTURE_MARKER, killStaleCaptures, markedCaptures, TcpdumpCapture, type CaptureEvent } from '../../agent/capture/tcpdump.js';
import { describeAsRoot } from '../helpers/root.js';
import { until } from '../helpers/wait.js';

const markedTcpdumps = async () => (await markedCaptures()).map((c) => c.pid);

describeAsRoot('live capture in network namespaces', () => {
  let lab: IncidentLab | null = null;
  let server: TcpServer | null = null;
  let capture: TcpdumpCapture | null = null;
  afterEach(async () => {
    await capture?.stop();
    await server?.stop();
    await lab?.lab.destroy();
    capture = null;
    server = null;
    lab = null;
  });

  it(
    'sees the incident as asymmetric eth1 -> eth0 flows, and the fixed node as symmetric; survives its child dying',
    { timeout: 90_000 },
    async () => {
      const l = (lab = await buildIncidentLab('arlive'));
      server = await startTcpServer(l.node, l.vip, 8443);
      const names = new Map(parseLinks(JSON.parse((await l.node.ip(['-j', 'link', 'show'])).stdout)).map((x) => [x.ifindex, x.name]));
      const matcher = new FlowMatcher({ vips: [l.vip], ifname: (i) => names.get(i) ?? null, answerMs: 500 });
      const events: CaptureEvent[] = [];
      let packets = 0;
      capture = new TcpdumpCapture({
        vips: [l.vip],
        netns: l.node.name,
        // The agent's default: handshakes always, data of 1 in 16 flows.
        sample: { flows: 4, tcpData: 6 },
        // Jitter drawn as 0: the first restart comes after exactly the first backoff step.
        restarter: new Restarter('tcpdump', { initialMs: 200, maxMs: 30_000, random: () => 0 }),
        onPacket: (buf, off, caplen, _len, ts, linktype) => {
          packets++;
          const d = decodePacket(linktype, buf, off, caplen);
          if (d.ok) matcher.observe(d, ts);
        },
        onEvent: (e) => events.push(e),
      });
      await capture.start();
      await until(() => events.some((e) => e.type === 'linktype'), 'the pcap header from tcpdump');
      expect(events.find((e) => e.type === 'linktype')).toMatchObject({ linktype: 276, ok: true });
      // No pause needed: tcpdump sets its filter (pcap_setfilter) before it writes the pcap header (pcap_dump_open).

      for (let i = 0; i < 2; i++) expect((await tcpConnect(l.client, l.vip, 8443, 1500)).ok).toBe(false);
      // Without --immediate-mode packets arrive a block at a time (within tcpdump's 1 s timeout): wait for all of them.
      await until(() => {
        const t = matcher.tally(Date.now()).get(l.vip);
        return (t?.outcomes.asymmetric ?? 0) >= 2 && (t?.ingressPackets['eth1'] ?? 0) >= 4 && (t?.retransmittedSyns ?? 0) >= 1;
      }, 'two asymmetric flows, their SYNs and a retransmission');
      const broken = matcher.tally(Date.now()).get(l.vip)!;
      expect(broken.paths).toEqual({ 'eth1>eth0': 2 });
      expect(broken.retransmittedSyns).toBeGreaterThanOrEqual(1);
      expect(broken.ingressPackets['eth1']).toBeGreaterThanOrEqual(4);

      await fixByPolicyRouting(l);
      for (let i = 0; i < 2; i++) expect((await tcpConnect(l.client, l.vip, 8443, 1500)).ok).toBe(true);
      await until(() => (matcher.tally(Date.now()).get(l.vip)?.outcomes.symmetric ?? 0) >= 2, 'two symmetric flows');
      expect(matcher.tally(Date.now()).get(l.vip)!.paths).toEqual({ 'eth1>eth0': 2, 'eth1>eth1': 2 });

      capture.requestStats();
      await until(() => events.some((e) => e.type === 'stats'), 'tcpdump statistics after SIGUSR1');
      const stats = events.find((e) => e.type === 'stats');
      expect(stats).toMatchObject({ type: 'stats', stats: { droppedByKernel: 0 } });
      expect((stats as { stats: { receivedByFilter: number } }).stats.receivedByFilter).toBeGreaterThan(0);

      // The child dies: the capture restarts it after the backoff and keeps counting.
      const firstPid = capture.pid!;
      process.kill(firstPid, 'SIGKILL');
      await until(() => capture!.restarts === 1 && capture!.running && capture!.pid !== firstPid, 'the restarted tcpdump');
      expect(events.find((e) => e.type === 'exited')).toMatchObject({ signal: 'SIGKILL', restartInMs: 200 });
      await until(() => events.filter((e) => e.type === 'linktype').length === 2, 'the restarted stream');
      const before = packets;
      expect((await tcpConnect(l.client, l.vip, 8443, 1500)).ok).toBe(true);
      await until(() => packets > before, 'packets from the restarted capture');

      await capture.stop();
      expect(capture.running).toBe(false);
      expect(await markedTcpdumps()).toEqual([]);
    },
  );

  it('learns the names of interfaces that appear after start', { timeout: 30_000 }, async () => {
    const l = (lab = await buildIncidentLab('arlinks'));
    let changes = 0;
    const names = new LinkNames(new IpRunner({ netns: l.node.name }), { minIntervalMs: 0, onChange: () => changes++ });
    await names.refresh();
    const eth1 = parseLinks(JSON.parse((await l.node.ip(['-j', 'link', 'show', 'eth1'])).stdout))[0]!.ifindex;
    expect(names.name(eth1)).toBe('eth1');
    await l.node.ip(['link', 'add', 'name', 'kube-ipvs0', 'type', 'bridge']);
    const idx = parseLinks(JSON.parse((await l.node.ip(['-j', 'link', 'show', 'kube-ipvs0'])).stdout))[0]!.ifindex;
    expect(names.name(idx)).toBeNull();
    await names.settled();
    expect(names.name(idx)).toBe('kube-ipvs0');
    expect(changes).toBe(2);
  });

  it('ends tcpdump children orphaned by an agent that died', { timeout: 30_000 }, async () => {
    const l = (lab = await buildIncidentLab('arstale'));
    // A tcpdump marked as ours whose owner pid cannot exist.
    const orphan = execa('ip', ['netns', 'exec', l.node.name, 'tcpdump', '-i', 'lo', '-w', '/dev/null'], {
      reject: false,
      stdin: 'ignore',
      env: { [CAPTURE_MARKER]: '2147483646' },
    });
    await until(async () => orphan.pid !== undefined && (await markedTcpdumps()).includes(orphan.pid), 'the orphan to run, marked');
    const killed = await killStaleCaptures();
    expect(killed).toContain(orphan.pid);
    await orphan;
    expect(await markedTcpdumps()).toEqual([]);
  });
});
