// The L2 incidents with real ARP peers: `asymroute serve` on a node of one bridged segment, a client whose kernel
// asks for the VIP, and speakers that answer for it, stop answering (the dead-speaker incident: "no route to host"),
// and claim it twice (conflict).

import type { ResultPromise } from 'execa';
import { afterEach, expect, it } from 'vitest';
import { serveInNetns } from '../helpers/cli.js';
import { announce, announce6, buildL2Lab, clientAsks, clientAsks6, L2, L2V6, withdraw, type L2Lab } from '../helpers/l2-lab.js';
import { nsGet, untilValue } from '../helpers/netns-http.js';
import { describeAsRoot } from '../helpers/root.js';

interface F {
  type: string;
  vip: string;
  summary: string;
}

describeAsRoot('ARP evidence in namespaces', () => {
  let l: L2Lab | null = null;
  let agent: ResultPromise | null = null;
  afterEach(async () => {
    agent?.kill('SIGKILL');
    await Promise.allSettled([agent]);
    await l?.lab.destroy();
    l = null;
    agent = null;
  });

  const findings = async (lab: L2Lab): Promise<F[]> =>
    (JSON.parse((await nsGet(lab.node, '/v1/findings')).body) as { findings: F[] }).findings.filter((f) => f.type.startsWith('vip-arp'));
  const metric = async (lab: L2Lab, re: RegExp) => Number(re.exec((await nsGet(lab.node, '/metrics')).body)?.[1] ?? NaN);

  it(
    'reports a VIP nobody answers ARP for, clears when a speaker announces it, and reports two MACs claiming it',
    { timeout: 120_000 },
    async () => {
      const lab = (l = await buildL2Lab('ararp'));
      agent = serveInNetns(lab.node.name, ['--vip', `${L2.vip}@eth1`, '--kubernetes', 'off', '--listen', '127.0.0.1'], {
        reject: false,
        stdin: 'ignore',
        buffer: false,
        env: { ASYMROUTE_CONFIG: '' },
      });
      await untilValue('capture up', async () => (await metric(lab, /^asymroute_capture_up (\d)/m)) === 1, 20_000);

      // Healthy: speaker A holds the VIP; the client asks once, gets its answer (unicast: the node does not see it).
      await announce(lab.spkA);
      await clientAsks(lab.client, 1500);
      await untilValue(
        'the request counted',
        async () => (await metric(lab, /^asymroute_vip_arp_requests_total\{vip="192\.168\.1\.240",interface="eth1"\} (\d+)/m)) >= 1,
        10_000,
      );
      expect(await findings(lab)).toEqual([]);
      expect(await metric(lab, /^asymroute_vip_arp_owners\{vip="192\.168\.1\.240"\} (\d+)/m)).toBe(1);

      // Speaker A dies. Its announcement would keep the finding back for the 60 s window; a restarted agent (as after a
      // node reboot) starts with an empty one.
      await withdraw(lab.spkA);
      agent.kill('SIGTERM');
      await agent;
      agent = serveInNetns(lab.node.name, ['--vip', `${L2.vip}@eth1`, '--kubernetes', 'off', '--listen', '127.0.0.1'], {
        reject: false,
        stdin: 'ignore',
        buffer: false,
        env: { ASYMROUTE_CONFIG: '' },
      });
      await untilValue('capture up again', async () => (await metric(lab, /^asymroute_capture_up (\d)/m)) === 1, 20_000);
      const t0 = Date.now();
      await clientAsks(lab.client, 3500);
      const unanswered = await untilValue(
        'vip-arp-unanswered',
        async () => (await findings(lab)).find((f) => f.type === 'vip-arp-unanswered') ?? null,
        10_000,
      );
      expect(unanswered.summary).toMatch(/^192\.168\.1\.240: 1 of 1 hosts keep asking who has it \(ARP on eth1\) and nobody answers/);
      expect(
        await metric(lab, /^asymroute_vip_arp_requests_total\{vip="192\.168\.1\.240",interface="eth1"\} (\d+)/m),
      ).toBeGreaterThanOrEqual(3);
      expect(await metric(lab, /^asymroute_vip_arp_owners\{vip="192\.168\.1\.240"\} (\d+)/m)).toBe(0);
      expect(
        await metric(lab, /^asymroute_vip_findings\{vip="192\.168\.1\.240",type="vip-arp-unanswered",severity="critical"\} (\d+)/m),
      ).toBe(1);
      expect(Date.now() - t0).toBeLessThan(15_000);

      // Failover: speaker B takes the VIP and announces it: answered again.
      await announce(lab.spkB);
      await untilValue('the finding to clear', async () => (await findings(lab)).length === 0, 10_000);

      // Speaker A comes back without B letting go: two MACs claim the VIP.
      await announce(lab.spkA);
      const conflict = await untilValue(
        'vip-arp-conflict',
        async () => (await findings(lab)).find((f) => f.type === 'vip-arp-conflict') ?? null,
        10_000,
      );
      const macs = await Promise.all(
        [lab.spkA, lab.spkB].map(
          async (ns) => (JSON.parse((await ns.ip(['-j', 'link', 'show', 'eth0'])).stdout) as Array<{ address: string }>)[0]!.address,
        ),
      );
      expect(conflict.summary).toBe(
        `192.168.1.240: 2 MACs claim it: ${[...macs]
          .sort()
          .map((m) => `${m} (seen on eth1)`)
          .join(', ')}`,
      );
      expect(await metric(lab, /^asymroute_vip_arp_owners\{vip="192\.168\.1\.240"\} (\d+)/m)).toBe(2);
      expect(
        await metric(lab, /^asymroute_vip_arp_announcements_total\{vip="192\.168\.1\.240",interface="eth1",origin="other"\} (\d+)/m),
      ).toBeGreaterThanOrEqual(4);
    },
  );

  it('probes who owns the VIP: no answer, then one owner with its latency, then two', { timeout: 120_000 }, async () => {
    const lab = (l = await buildL2Lab('arprobe'));
    agent = serveInNetns(
      lab.node.name,
      [
        '--vip',
        `${L2.vip}@eth1`,
        '--arp-probe',
        '--arp-probe-interval',
        '5',
        '--kubernetes',
        'off',
        '--bgp',
        'off',
        '--listen',
        '127.0.0.1',
      ],
      { reject: false, stdin: 'ignore', buffer: false, env: { ASYMROUTE_CONFIG: '' } },
    );
    const probeAnswers = async () => metric(lab, /^asymroute_vip_arp_probe_answers\{vip="192\.168\.1\.240"\} (\d+)/m);

    // Nobody holds the VIP and no client asks: the probe alone shows that nobody answers.
    await untilValue('a probe without answer', async () => (await probeAnswers()) === 0, 20_000);
    const f = await untilValue(
      'vip-arp-unanswered from the probe',
      async () => (await findings(lab)).find((x) => x.type === 'vip-arp-unanswered') ?? null,
      10_000,
    );
    expect(f.summary).toMatch(
      /^192\.168\.1\.240: nobody answers ARP for it: this node's probe on eth1 got no answer and no MAC announced it/,
    );
    expect((await nsGet(lab.node, '/')).body).toMatch(/^ARP probe 192\.168\.1\.240 on eth1 at \S+: NO ANSWER$/m);

    await announce(lab.spkA);
    await untilValue('one owner', async () => (await probeAnswers()) === 1, 15_000);
    const rtt = await metric(lab, /^asymroute_vip_arp_probe_rtt_seconds\{vip="192\.168\.1\.240"\} (\S+)/m);
    expect(rtt).toBeGreaterThan(0);
    expect(rtt).toBeLessThan(1);
    await untilValue('the finding to clear', async () => (await findings(lab)).length === 0, 10_000);

    // Speaker B takes the address too, without announcing it: only the probe can find it.
    await lab.spkB.ip(['addr', 'add', `${L2.vip}/32`, 'dev', 'eth0']);
    await untilValue('two owners', async () => (await probeAnswers()) === 2, 15_000);
    expect((await nsGet(lab.node, '/')).body).toMatch(/^ARP probe 192\.168\.1\.240 on eth1 at \S+: answered by .* \(CONFLICT\)$/m);
    await untilValue('vip-arp-conflict', async () => (await findings(lab)).some((x) => x.type === 'vip-arp-conflict'), 10_000);
    expect(
      await metric(lab, /^asymroute_vip_arp_probes_total\{vip="192\.168\.1\.240",result="unanswered"\} (\d+)/m),
    ).toBeGreaterThanOrEqual(1);
    expect(await metric(lab, /^asymroute_vip_arp_probes_total\{vip="192\.168\.1\.240",result="answered"\} (\d+)/m)).toBeGreaterThanOrEqual(
      2,
    );
  });

  it('IPv6 (NDP): nobody answers the solicitations, then a speaker advertises the VIP, then two do', { timeout: 120_000 }, async () => {
    const lab = (l = await buildL2Lab('arndp'));
    agent = serveInNetns(
      lab.node.name,
      [
        '--vip',
        `${L2V6.vip}@eth1`,
        '--arp-probe',
        '--arp-probe-interval',
        '5',
        '--kubernetes',
        'off',
        '--bgp',
        'off',
        '--listen',
        '127.0.0.1',
      ],
      { reject: false, stdin: 'ignore', buffer: false, env: { ASYMROUTE_CONFIG: '' } },
    );
    await untilValue('capture up', async () => (await metric(lab, /^asymroute_capture_up (\d)/m)) === 1, 20_000);
    const v6 = (m: string) => new RegExp(`^${m}\\{vip="2001:db8:1::240"(?:,interface="eth1")?\\} (\\d+)`, 'm');

    // The client's kernel solicits the VIP (to its solicited-node group) and retries: nobody answers.
    await clientAsks6(lab.client, 3500);
    const f = await untilValue(
      'vip-arp-unanswered for the IPv6 VIP, from the retries',
      async () => (await findings(lab)).find((x) => x.type === 'vip-arp-unanswered' && x.summary.includes('keep asking')) ?? null,
      10_000,
    );
    expect(f.summary).toMatch(/^2001:db8:1::240: 1 of 1 hosts keep asking who has it \(NDP on eth1\) and nobody answers/);
    expect(await metric(lab, v6('asymroute_vip_arp_requests_total'))).toBeGreaterThanOrEqual(3);
    expect(await metric(lab, v6('asymroute_vip_arp_probe_answers'))).toBe(0);

    // Speaker A takes the VIP; its kernel advertises it unsolicited: answered, and the probe sees one owner.
    await announce6(lab.spkA);
    await untilValue('the finding to clear', async () => (await findings(lab)).length === 0, 10_000);
    await untilValue('one owner', async () => (await metric(lab, v6('asymroute_vip_arp_probe_answers'))) === 1, 15_000);
    expect((await nsGet(lab.node, '/')).body).toMatch(/^NDP probe 2001:db8:1::240 on eth1 at \S+: answered by [0-9a-f:]{17}$/m);

    // Speaker B too: two MACs advertise the VIP.
    await announce6(lab.spkB);
    await untilValue(
      'vip-arp-conflict',
      async () => (await findings(lab)).some((x) => x.type === 'vip-arp-conflict' && x.vip === L2V6.vip),
      10_000,
    );
    expect(await metric(lab, v6('asymroute_vip_arp_owners'))).toBe(2);
  });
});
