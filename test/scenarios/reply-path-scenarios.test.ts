// Namespace scenarios: each builds a topology, runs `asymroute check --json` inside the node namespace and
// asserts the exact findings; the incident ones also prove the symptom with real TCP connections.

import { afterEach, expect, it } from 'vitest';
import {
  buildIncidentLab,
  fixByDefaultRoute,
  fixByPolicyRouting,
  type IncidentLab,
  type IncidentOptions,
} from '../../agent/netns/incident-lab.js';
import { startTcpServer, tcpConnect, type TcpServer } from '../../agent/netns/netns.js';
import { parseNetstat } from '../../agent/parsers/proc.js';
import { checkJson, findingTypes } from '../helpers/cli.js';
import { describeAsRoot } from '../helpers/root.js';

const PORT = 8443;

describeAsRoot('reply-path scenarios in network namespaces', () => {
  let lab: IncidentLab | null = null;
  let server: TcpServer | null = null;

  afterEach(async () => {
    await server?.stop();
    server = null;
    await lab?.lab.destroy();
    lab = null;
  });

  async function build(opts: IncidentOptions = {}): Promise<IncidentLab> {
    lab = await buildIncidentLab('arscen', opts);
    return lab;
  }

  async function check(l: IncidentLab, extra: string[] = []) {
    return checkJson(['--vip', l.vip, '--client', l.clientCidr, ...extra], l.node);
  }

  it('the Vagrant incident: asymmetric eth1 -> eth0, TCP times out; policy routing fixes both', async () => {
    const l = await build();
    server = await startTcpServer(l.node, l.vip, PORT);
    const before = await check(l);
    expect(before.exitCode).toBe(1);
    expect(findingTypes(before.report)).toEqual(['asymmetric-reply-path', 'default-route-on-management-network']);
    const asym = before.report.findings.find((f) => f.type === 'asymmetric-reply-path')!;
    expect(asym.severity).toBe('critical');
    expect(asym.ingress).toBe('eth1');
    expect(asym.egress).toBe('eth0');
    expect(asym.route).toBe('default via 192.168.121.1 dev eth0');
    expect(asym.rule).toBe('32766: from all lookup main');
    const policy = asym.remediation.find((r) => r.title.startsWith('policy routing'))!;
    expect(policy.commands).toEqual([
      'ip rule add from 192.168.1.240 lookup 100 priority 32765',
      'ip route add 192.168.1.0/24 dev eth1 table 100',
      'ip route add default via 192.168.1.254 dev eth1 table 100',
    ]);
    const move = asym.remediation.find((r) => r.title.startsWith('move the default route'))!;
    expect(move.commands).toEqual(['ip route del default via 192.168.121.1 dev eth0', 'ip route add default via 192.168.1.254 dev eth1']);
    const vip = before.report.vips[0]!;
    const client = vip.paths.find((p) => p.clientKind === 'client-cidr')!;
    expect(client.kernel).toEqual({ ok: true, type: 'unicast', dev: 'eth0', gateway: '192.168.121.1' });
    expect(client.modelAgrees).toBe(true);
    expect(client.verdict).toBe('asymmetric');

    const broken = await tcpConnect(l.client, l.vip, PORT, 2000);
    expect(broken).toMatchObject({ ok: false, error: 'timeout' });

    // Apply exactly the commands the finding recommends.
    for (const cmd of policy.commands) await l.node.ip(cmd.split(' ').slice(1));
    const after = await check(l);
    expect(findingTypes(after.report)).toEqual([]);
    expect(after.exitCode).toBe(0);
    const fixed = await tcpConnect(l.client, l.vip, PORT, 2000);
    expect(fixed).toMatchObject({ ok: true, reply: 'asymroute-demo' });
  });

  it('fixed by moving the default route: clean', async () => {
    const l = await build();
    await fixByDefaultRoute(l);
    const r = await check(l);
    expect(findingTypes(r.report)).toEqual([]);
    expect(r.exitCode).toBe(0);
    expect(r.report.vips[0]!.paths.filter((p) => p.verdict === 'symmetric').length).toBeGreaterThanOrEqual(2);
  });

  it('fixed by policy routing: clean, and the model names table 100', async () => {
    const l = await build();
    await fixByPolicyRouting(l);
    const r = await check(l);
    expect(findingTypes(r.report)).toEqual([]);
    const p = r.report.vips[0]!.paths.find((x) => x.clientKind === 'client-cidr')!;
    expect(p.egress).toEqual(['eth1']);
    expect(p.model.table).toBe('100');
    expect(p.rule).toMatch(/from 192\.168\.1\.240\/32 lookup 100$/);
  });

  it('strict rp_filter on eth1: the request itself is dropped, confirmed by the kernel and its counter', async () => {
    const l = await build({ rpFilterEth1: 1 });
    server = await startTcpServer(l.node, l.vip, PORT);
    const r = await check(l);
    expect(findingTypes(r.report)).toEqual([
      'asymmetric-reply-path',
      'default-route-on-management-network',
      'rp-filter-drop',
      'rp-filter-drop',
    ]);
    const rp = r.report.findings.filter((f) => f.type === 'rp-filter-drop');
    expect(rp.map((f) => f.client).sort()).toEqual(['203.0.113.1', '203.0.113.77']);
    expect(rp[0]!.evidence[0]).toMatch(/^ip route get 192\.168\.1\.240 from 203\.0\.113\.\d+ iif eth1 -> error EINVAL/);
    expect(rp[0]!.remediation[1]!.commands).toEqual(['sysctl -w net.ipv4.conf.eth1.rp_filter=2']);
    const counter = () => readRpfCounter(l);
    const c0 = await counter();
    const conn = await tcpConnect(l.client, l.vip, PORT, 1500);
    expect(conn.ok).toBe(false);
    expect(await counter()).toBeGreaterThan(c0);
  });

  it('VIP outside every connected subnet: its own finding; pinning the ingress brings back the path check', async () => {
    const l = await build({ vipOutsideSubnet: true });
    const r = await check(l);
    expect(findingTypes(r.report)).toEqual(['vip-outside-connected-subnets']);
    expect(r.report.vips[0]!.ingress).toBeNull();
    expect(r.exitCode).toBe(1);
    const pinned = await checkJson(['--vip', `${l.vip}@eth1`, '--client', l.clientCidr], l.node);
    expect(findingTypes(pinned.report)).toEqual(['asymmetric-reply-path', 'default-route-on-management-network']);
  });

  it('VIP on a dummy-like kube-ipvs0: requests still arrive on eth1; auto-detected without --vip', async () => {
    const l = await build({ vipOn: 'kube-ipvs0' });
    const r = await checkJson(['--client', l.clientCidr], l.node);
    expect(r.report.vipSource).toMatch(/^auto-detected/);
    expect(r.report.vips.map((v) => v.ip)).toEqual([l.vip]);
    expect(r.report.vips[0]).toMatchObject({ holder: 'kube-ipvs0', ingress: 'eth1' });
    expect(findingTypes(r.report)).toEqual(['asymmetric-reply-path', 'default-route-on-management-network']);
    expect(r.report.findings[0]).toMatchObject({ ingress: 'eth1', egress: 'eth0' });
    // With the route fixed, a kube-ipvs0 VIP with no backend known is unknown, not ok: IPVS forwards to pods.
    await fixByDefaultRoute(l);
    const fixed = await checkJson(['--client', l.clientCidr], l.node);
    expect(findingTypes(fixed.report)).toEqual(['reply-path-unknown']);
    expect(fixed.report.vips[0]!.paths.find((p) => p.clientKind === 'client-cidr')!.reason).toMatch(/kube-ipvs0 \(kube-proxy IPVS mode\)/);
  });

  it('VIP on lo: requests arrive on eth1, replies leave on eth0', async () => {
    const l = await build({ vipOn: 'lo' });
    server = await startTcpServer(l.node, l.vip, PORT);
    const r = await check(l);
    expect(r.report.vips[0]).toMatchObject({ holder: 'lo', ingress: 'eth1' });
    expect(findingTypes(r.report)).toEqual(['asymmetric-reply-path', 'default-route-on-management-network']);
    expect((await tcpConnect(l.client, l.vip, PORT, 1500)).ok).toBe(false);
    await fixByDefaultRoute(l);
    expect(findingTypes((await check(l)).report)).toEqual([]);
    expect((await tcpConnect(l.client, l.vip, PORT, 2000)).ok).toBe(true);
  });

  it('IPv6: asymmetric eth1 -> eth0 and a failing connection; fixed by policy routing', async () => {
    const l = await build({ ipv6: true });
    server = await startTcpServer(l.node, l.vip, PORT);
    const r = await check(l);
    expect(findingTypes(r.report)).toEqual(['asymmetric-reply-path']);
    const f = r.report.findings[0]!;
    expect(f).toMatchObject({ ingress: 'eth1', egress: 'eth0', route: 'default via 2001:db8:121::1 dev eth0 metric 1024' });
    expect(f.remediation[0]!.commands[0]).toBe('ip -6 rule add from 2001:db8:1::240 lookup 100 priority 32765');
    expect((await tcpConnect(l.client, l.vip, PORT, 1500)).ok).toBe(false);
    await fixByPolicyRouting(l);
    const after = await check(l);
    expect(findingTypes(after.report)).toEqual([]);
    expect((await tcpConnect(l.client, l.vip, PORT, 2000)).ok).toBe(true);
  });
});

async function readRpfCounter(l: IncidentLab): Promise<number> {
  const r = await l.node.exec(['cat', '/proc/net/netstat']);
  const v = parseNetstat(r.stdout)['TcpExt']?.['IPReversePathFilter'];
  if (v === undefined) throw new Error('no TcpExt IPReversePathFilter in /proc/net/netstat');
  return v;
}
