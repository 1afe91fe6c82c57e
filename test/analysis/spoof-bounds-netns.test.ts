// The flow matcher fed by a real tcpdump in the incident's node namespace (the agent's packet path, fast path
// included), with real packets: a SYN to a closed port whose RST leaves on eth0, a UDP datagram to a closed port
// answered by an ICMP port unreachable on eth0, and a flood of SYNs from spoofed sources that never enters the
// observed clients, while a real client that completes its handshake does.

import { afterEach, expect, it } from 'vitest';
import { FlowMatcher } from '../../agent/analysis/flow-matcher.js';
import { evidenceFindings } from '../../agent/analysis/live-evidence.js';
import { feedPacket } from '../../agent/analysis/packet-feed.js';
import { TcpdumpCapture, type CaptureEvent } from '../../agent/capture/tcpdump.js';
import { buildIncidentLab, fixByPolicyRouting, type IncidentLab } from '../../agent/netns/incident-lab.js';
import { startTcpServer, tcpConnect, type TcpServer } from '../../agent/netns/netns.js';
import { parseLinks } from '../../agent/parsers/ip-json.js';
import { Restarter } from '../../agent/supervisor/restarter.js';
import { describeAsRoot } from '../helpers/root.js';
import { until } from '../helpers/wait.js';

// One datagram from a fixed source port (low 4 bits zero: a flow the agent's default sampling keeps).
const UDP_JS = `
const s = require('dgram').createSocket('udp4');
const [host, port] = process.argv.slice(1);
s.bind(40000, () => s.send(Buffer.from('hello'), Number(port), host, () => setTimeout(() => { s.close(); process.exit(0); }, 300)));
s.on('error', (e) => { console.error(e.message); process.exit(1); });
`;

describeAsRoot('flows under spoofed and non-TCP traffic, in namespaces', () => {
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
    'a RST and an ICMP port unreachable sent out eth0 are asymmetric evidence; spoofed SYN sources never become observed clients',
    { timeout: 120_000 },
    async () => {
      const l = (lab = await buildIncidentLab('arspoof'));
      server = await startTcpServer(l.node, l.vip, 8443);
      const names = new Map(parseLinks(JSON.parse((await l.node.ip(['-j', 'link', 'show'])).stdout)).map((x) => [x.ifindex, x.name]));
      const m = new FlowMatcher({ vips: [l.vip], ifname: (i) => names.get(i) ?? null, answerMs: 500 });
      const failures: string[] = [];
      const events: CaptureEvent[] = [];
      capture = new TcpdumpCapture({
        vips: [l.vip],
        netns: l.node.name,
        sample: { flows: 4, tcpData: 6 },
        restarter: new Restarter('tcpdump', { initialMs: 200, maxMs: 30_000, random: () => 0 }),
        onPacket: (buf, off, caplen, _len, ts, linktype) =>
          void feedPacket(m, (layer, reason) => failures.push(`${layer}:${reason}`), linktype, buf, off, caplen, ts),
        onEvent: (e) => events.push(e),
      });
      await capture.start();
      await until(() => events.some((e) => e.type === 'linktype'), 'the pcap header from tcpdump');
      const flow = (vport: number) => m.flows(Date.now(), { limit: 10_000 }).find((f) => f.vport === vport && f.client === l.clientIp);

      // A SYN to a closed port: the node's RST leaves on eth0 (the default route), the client never sees it.
      expect((await tcpConnect(l.client, l.vip, 9, 1500)).ok).toBe(false);
      await until(() => flow(9)?.egress === 'eth0', 'the RST to the closed port');
      expect(flow(9)).toMatchObject({
        proto: 6,
        ingress: 'eth1',
        egress: 'eth0',
        reset: true,
        synAck: false,
        icmpError: false,
        outcome: 'asymmetric',
      });

      // A UDP datagram to a closed port: the ICMP port unreachable from the VIP answers it, out on eth0.
      await l.client.exec([process.execPath, '-e', UDP_JS, l.vip, '9999']);
      await until(() => (flow(9999)?.packetsOut ?? 0) > 0, 'the ICMP port unreachable');
      expect(flow(9999)).toMatchObject({
        proto: 17,
        cport: 40000,
        ingress: 'eth1',
        egress: 'eth0',
        icmpError: true,
        outcome: 'asymmetric',
      });
      const f = evidenceFindings({ tally: m.openTally(Date.now()), skipped: m.skipped, interfacesKnown: true });
      expect(f.map((x) => x.type)).toEqual(['asymmetric-flows-observed']);
      expect(f[0]!.summary).toMatch(/^192\.168\.1\.240: 2 flows arrived on eth1 and their replies left on eth0/);

      // SYNs from spoofed sources: the node answers each with a SYN-ACK (out eth0), none acknowledges it.
      const before = m.size;
      await l.client.exec(['hping3', '-q', '-S', '-p', '8443', '--rand-source', '-c', '300', '-i', 'u2000', l.vip], {
        timeoutMs: 30_000,
        check: false,
      });
      await until(() => (m.openTally(Date.now()).get(l.vip)?.outcomes.asymmetric ?? 0) >= 250, 'the spoofed SYNs and their SYN-ACKs');
      expect(m.size - before).toBeGreaterThanOrEqual(250);
      expect(m.observedClients(Date.now()).size).toBe(0);
      // Nothing unanswered either: each SYN got its SYN-ACK, on the wrong interface.
      expect(m.openTally(Date.now()).get(l.vip)!.outcomes.unanswered).toBe(0);

      // Fixed, a real client completes its handshake: it becomes an observed client, from its ACK of the SYN-ACK
      // or, when the capture thinned that ACK away, from the VIP's FIN (never thinned) of the established connection.
      await fixByPolicyRouting(l);
      await until(
        async () => {
          expect((await tcpConnect(l.client, l.vip, 8443, 1500)).ok).toBe(true);
          return m.observedClients(Date.now()).get(l.vip)?.includes(l.clientIp) ?? false;
        },
        'the client that completed a handshake',
        60_000,
      );
      expect(m.observedClients(Date.now())).toEqual(new Map([[l.vip, [l.clientIp]]]));
      expect(failures).toEqual([]);
    },
  );
});
