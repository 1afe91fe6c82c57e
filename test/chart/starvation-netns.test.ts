// Traffic starvation end to end: two nodes check one VIP, the router sends its traffic to node-a only (it never
// peered with node-b). Both agents' real /metrics, scraped before and after the clients' connections and labelled as
// the chart's ServiceMonitor labels them, feed `promtool test rules` with the chart's rendered starvation alert.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ResultPromise } from 'execa';
import { stringify } from 'yaml';
import { afterEach, expect, it, onTestFinished } from 'vitest';
import { NetnsLab, tcpConnect, type Netns } from '../../agent/netns/netns.js';
import { serveInNetns } from '../helpers/cli.js';
import { renderChart } from '../helpers/helm.js';
import { nsGet, untilValue } from '../helpers/netns-http.js';
import { describeAsRoot } from '../helpers/root.js';

const VIP = '10.96.0.240';
const WANTED = ['asymroute_vip_info', 'asymroute_vip_ingress_packets_total', 'asymroute_capture_up', 'asymroute_vip_announced'];

/** Samples of the wanted metrics, with the target labels Prometheus adds (job, instance, node). */
function samples(text: string, target: Record<string, string>): Map<string, number> {
  const out = new Map<string, number>();
  const extra = Object.entries(target)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',');
  for (const line of text.split('\n')) {
    const m = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || !WANTED.includes(m[1]!)) continue;
    out.set(`${m[1]}{${[extra, m[2]].filter(Boolean).join(',')}}`, Number(m[3]));
  }
  return out;
}

describeAsRoot('VIP traffic starvation', () => {
  let lab: NetnsLab | null = null;
  const agents: ResultPromise[] = [];
  afterEach(async () => {
    for (const a of agents) a.kill('SIGKILL');
    await Promise.allSettled(agents);
    agents.length = 0;
    await lab?.destroy();
    lab = null;
  });

  it("fires for the node that gets none of the VIP's traffic while its peer does, from real scrapes", { timeout: 120_000 }, async () => {
    lab = new NetnsLab('arstarve');
    const client = await lab.add('client');
    const router = await lab.add('router');
    const nodes: Record<string, Netns> = { 'node-a': await lab.add('nodea'), 'node-b': await lab.add('nodeb') };
    await lab.link(client, 'eth0', router, 'eth0');
    await client.ip(['addr', 'add', '203.0.113.5/24', 'dev', 'eth0']);
    await router.ip(['addr', 'add', '203.0.113.1/24', 'dev', 'eth0']);
    await client.ip(['route', 'add', 'default', 'via', '203.0.113.1']);
    await router.sysctl('net.ipv4.ip_forward', 1);
    let i = 1;
    for (const [name, ns] of Object.entries(nodes)) {
      const [r, n] = [`192.168.${i}.254`, `192.168.${i}.10`];
      await lab.link(router, `eth${i}`, ns, 'eth1');
      await router.ip(['addr', 'add', `${r}/24`, 'dev', `eth${i}`]);
      await ns.ip(['addr', 'add', `${n}/24`, 'dev', 'eth1']);
      await ns.ip(['route', 'add', 'default', 'via', r]);
      // BGP-style VIP on every node: the address is local, the router decides who gets the traffic.
      await ns.ip(['addr', 'add', `${VIP}/32`, 'dev', 'lo']);
      if (name === 'node-a') await router.ip(['route', 'add', `${VIP}/32`, 'via', n]);
      agents.push(
        serveInNetns(ns.name, ['--vip', `${VIP}@eth1`, '--bgp', 'off', '--kubernetes', 'off', '--listen', '127.0.0.1'], {
          reject: false,
          stdin: 'ignore',
          buffer: false,
          env: { ASYMROUTE_CONFIG: '', NODE_NAME: name },
        }),
      );
      i++;
    }
    const scrape = async () => {
      const all = new Map<string, number>();
      for (const [name, ns] of Object.entries(nodes))
        for (const [k, v] of samples((await nsGet(ns, '/metrics')).body, { job: 'asymroute', instance: `${name}:9472`, node: name }))
          all.set(k, v);
      return all;
    };
    for (const ns of Object.values(nodes))
      await untilValue('capture up', async () => /^asymroute_capture_up 1$/m.test((await nsGet(ns, '/metrics')).body), 20_000);
    const before = await scrape();
    for (let k = 0; k < 3; k++) await tcpConnect(client, VIP, 443, 2000);
    await untilValue(
      'node-a counts the requests',
      async () =>
        ((await scrape()).get(
          `asymroute_vip_ingress_packets_total{job="asymroute",instance="node-a:9472",node="node-a",vip="${VIP}",interface="eth1"}`,
        ) ?? 0) >= 3,
      10_000,
    );
    const after = await scrape();
    expect(
      before.get(`asymroute_vip_ingress_packets_total{job="asymroute",instance="node-a:9472",node="node-a",vip="${VIP}",interface="eth1"}`),
    ).toBe(0);
    expect(
      after.get(`asymroute_vip_ingress_packets_total{job="asymroute",instance="node-b:9472",node="node-b",vip="${VIP}",interface="eth1"}`),
    ).toBe(0);
    expect(
      after.get(`asymroute_vip_info{job="asymroute",instance="node-b:9472",node="node-b",vip="${VIP}",ingress="eth1",source="flag"}`),
    ).toBe(1);

    // 31 minutes at the first scrape, then 31 at the second: the counters rose within the alert's 30m window.
    const series = [...new Set([...before.keys(), ...after.keys()])].map((s) => ({
      series: s,
      values: `${before.get(s) ?? after.get(s)}x30 ${after.get(s) ?? before.get(s)}x30`,
    }));
    const rule = (
      renderChart({ prometheusRule: { enabled: true }, serviceMonitor: { enabled: true } }).objects.find(
        (o) => o.kind === 'PrometheusRule',
      ) as unknown as {
        spec: { groups: Array<{ rules: Array<{ alert: string; expr: string; for: string; labels: Record<string, string> }> }> };
      }
    ).spec.groups[0]!.rules.find((r) => r.alert === 'AsymrouteVipTrafficStarvation')!;
    const dir = mkdtempSync(join(tmpdir(), 'asymroute-starve-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    // The expression is what is under test here; the annotations are checked in alerts.test.ts.
    writeFileSync(
      join(dir, 'rules.yaml'),
      stringify({ groups: [{ name: 'asymroute', rules: [{ alert: rule.alert, expr: rule.expr, for: rule.for, labels: rule.labels }] }] }),
    );
    const test = (exp: Array<Record<string, string>>) => ({
      interval: '1m',
      input_series: series,
      alert_rule_test: [
        { eval_time: '50m', alertname: rule.alert, exp_alerts: exp.map((l) => ({ exp_labels: { ...l, ...rule.labels } })) },
      ],
    });
    writeFileSync(
      join(dir, 'tests.yaml'),
      stringify({
        rule_files: ['rules.yaml'],
        evaluation_interval: '1m',
        tests: [test([{ node: 'node-b', instance: 'node-b:9472', vip: VIP }])],
      }),
    );
    const run = spawnSync('promtool', ['test', 'rules', join(dir, 'tests.yaml')], { encoding: 'utf8' });
    // promtool prints the alerts it got when they differ: node-a must not be among them.
    expect(run.status, run.stdout + run.stderr).toBe(0);
  });
});
