// Real kernel drops: serve with the smallest capture buffer (--capture-buffer 64, tcpdump -B) under a SYN flood
// bounded by count; the ring overflows, tcpdump's counters (read with SIGUSR1) say so, and the agent exports them as
// asymroute_capture_kernel_drops_total. test/runtime/capture-drops.test.ts covers the sum across restarts.

import { execa, type ResultPromise } from 'execa';
import { afterEach, expect, it } from 'vitest';
import { buildIncidentLab, type IncidentLab } from '../../agent/netns/incident-lab.js';
import { collectLines, serveInNetns } from '../helpers/cli.js';
import { nsGet, untilValue } from '../helpers/netns-http.js';
import { describeAsRoot } from '../helpers/root.js';

const FLOOD = 30_000;

const drops = (metrics: string) => Number(/^asymroute_capture_kernel_drops_total (\d+)$/m.exec(metrics)?.[1] ?? NaN);

describeAsRoot('capture kernel drops', () => {
  let lab: IncidentLab | null = null;
  let agent: ResultPromise | null = null;
  afterEach(async () => {
    agent?.kill('SIGKILL');
    await agent;
    await lab?.lab.destroy();
    agent = null;
    lab = null;
  });

  it('a SYN flood into a 64 KiB capture buffer makes the kernel drop, and the metric says how many', { timeout: 120_000 }, async () => {
    const l = (lab = await buildIncidentLab('ardrops'));
    const logs: string[] = [];
    agent = serveInNetns(
      l.node.name,
      ['--vip', l.vip, '--client', l.clientCidr, '--kubernetes', 'off', '--interval', '300', '--capture-buffer', '64'],
      { reject: false, stdin: 'ignore', all: true, buffer: false, env: { ASYMROUTE_CONFIG: '' } },
    );
    collectLines(agent.all, logs);
    const metrics = async () => (await nsGet(l.node, '/metrics')).body;
    await untilValue('capture_up 1', async () => /^asymroute_capture_up 1$/m.test(await metrics()), 20_000);
    expect(drops(await metrics())).toBe(0);
    // Every SYN passes the capture filter; hping3 paces them 1 µs apart and stops after FLOOD.
    const flood = await execa(
      'ip',
      ['netns', 'exec', l.client.name, 'hping3', '-q', '-S', '-p', '8443', '-i', 'u1', '-c', String(FLOOD), l.vip],
      { reject: false, timeout: 60_000 },
    );
    expect(flood.stderr).toMatch(new RegExp(`${FLOOD} packets transmitted`));
    // tcpdump's counters arrive every 10 s (SIGUSR1); the drops are real, not read from a stand-in.
    const dropped = await untilValue(
      'kernel drops in the metric',
      async () => {
        const n = drops(await metrics());
        return n > 0 ? n : null;
      },
      30_000,
    );
    expect(dropped).toBeGreaterThan(0);
    // Each SYN and the node's RST to it were either read by the agent or dropped by the kernel (a few ARP/ND besides).
    const accounted = await untilValue(
      'the read and the dropped packets to add up to the flood',
      async () => {
        const m = await metrics();
        const sum = drops(m) + Number(/^asymroute_capture_packets_total (\d+)$/m.exec(m)?.[1] ?? NaN);
        return sum >= 2 * FLOOD ? sum : null;
      },
      30_000,
    );
    expect(accounted).toBeLessThanOrEqual(2 * FLOOD + 50);
  });
});
