// The cap on VIPs per node and the CIDRs Kubernetes VIPs must fall in: which VIPs are kept, and what a Service with
// 500 externalIPs costs the check, the metrics and the capture filter with and without them.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { VipSpec } from '../../agent/analysis/vips.js';
import { buildFilter } from '../../agent/capture/tcpdump.js';
import { agentRegistry } from '../../agent/exposition/metrics.js';
import type { HostSnapshot } from '../../agent/model/host-state.js';
import { DEFAULT_MAX_VIPS, limitVips, ReplyPathMonitor, type VipLimits } from '../../agent/reply-path/check-monitor.js';
import { ROOT } from '../helpers/cli.js';

const SNAP = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/vagrant-incident.snapshot.json'), 'utf8')) as HostSnapshot;
const k8s = (ip: string, here = false): VipSpec => ({
  ip,
  ingress: null,
  source: 'kubernetes',
  service: 'shop/web',
  ...(here ? { announcement: { nodes: ['me'], here: true, interfaces: ['eth1'] } } : {}),
});

it('keeps configured VIPs, then those this node announces, then the others by address; the allowlist binds Kubernetes VIPs only', () => {
  const vips: VipSpec[] = [
    k8s('10.9.0.3'),
    k8s('10.9.0.1'),
    k8s('192.168.1.250', true),
    { ip: '10.99.0.1', ingress: null, source: 'flag' },
    k8s('2001:db8::5'),
  ];
  expect(limitVips(vips, { maxVips: 10, vipCidrs: [] })).toEqual({ watched: vips, notWatched: [] });
  const capped = limitVips(vips, { maxVips: 3, vipCidrs: [] });
  expect(capped.watched.map((v) => v.ip)).toEqual(['10.99.0.1', '192.168.1.250', '10.9.0.1']);
  expect(capped.notWatched).toEqual([
    { ip: '10.9.0.3', service: 'shop/web', source: 'kubernetes', reason: 'over-max-vips' },
    { ip: '2001:db8::5', service: 'shop/web', source: 'kubernetes', reason: 'over-max-vips' },
  ]);
  // The same set in another order gives the same answer.
  expect(limitVips([...vips].reverse(), { maxVips: 3, vipCidrs: [] }).watched.map((v) => v.ip)).toEqual([
    '10.99.0.1',
    '192.168.1.250',
    '10.9.0.1',
  ]);
  const allowed = limitVips(vips, { maxVips: 10, vipCidrs: ['192.168.1.0/24', '2001:db8::/64'] });
  // The configured 10.99.0.1 stays although it is outside: the operator named it.
  expect(allowed.watched.map((v) => v.ip)).toEqual(['192.168.1.250', '10.99.0.1', '2001:db8::5']);
  expect(allowed.notWatched.map((x) => [x.ip, x.reason])).toEqual([
    ['10.9.0.3', 'outside-vip-cidrs'],
    ['10.9.0.1', 'outside-vip-cidrs'],
  ]);
});

it('keeps a kube-vip VIP this node holds before the others, as one MetalLB announces from here', () => {
  const held: VipSpec = { ...k8s('192.168.1.251'), kubeVip: { here: true, nodes: ['me'], via: 'lease', lease: 'shop/kubevip-web' } };
  const elsewhere: VipSpec = { ...k8s('10.9.0.4'), kubeVip: { here: false, nodes: ['other'], via: 'lease', lease: 'shop/kubevip-x' } };
  expect(limitVips([k8s('10.9.0.1'), elsewhere, held], { maxVips: 1, vipCidrs: [] }).watched.map((v) => v.ip)).toEqual(['192.168.1.251']);
});

// One check over the incident's snapshot with `vips` from Kubernetes; the kernel is not asked (the model answers).
async function checkWith(vips: VipSpec[], limits?: VipLimits) {
  const registry = agentRegistry({ version: 'test', node: 'node1' });
  let followed: VipSpec[] = [];
  const m = new ReplyPathMonitor({
    vips: [],
    autoDetect: false,
    clientCidrs: ['203.0.113.0/24'],
    managementCidrs: ['192.168.121.0/24'],
    gateways: {},
    intervalMs: 60_000,
    debounceMs: 300,
    log: () => undefined,
    registry,
    changed: () => undefined,
    kubernetesVips: () => vips,
    readSnapshot: async () => SNAP,
    oracle: async () => null,
    readConntrack: async () => null,
    onChecked: async (v) => {
      followed = v;
    },
    ...(limits ? { limits } : {}),
  });
  await m.check('test');
  expect(m.status.error).toBeNull();
  const text = await registry.metrics();
  const series = text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
  const filter = followed.length ? buildFilter(followed.map((v) => v.ip)) : '';
  return { m, ms: m.status.durationMs!, series, filter, followed, text };
}

it('a Service with 500 externalIPs: capped to --max-vips, or to the allowlist, with the rest reported', async () => {
  const many = Array.from({ length: 500 }, (_, i) => k8s(`198.18.${i >> 8}.${i & 255}`));
  const real = k8s('192.168.1.240', true);
  const base = await checkWith([real]);
  const before = await checkWith([real, ...many], { maxVips: 65535, vipCidrs: [] });
  const capped = await checkWith([real, ...many]);
  const allow = await checkWith([real, ...many], { maxVips: 256, vipCidrs: ['192.168.1.0/24'] });
  console.log(
    `500 externalIPs: check ${before.ms.toFixed(0)} ms / ${before.series} series / filter ${before.filter.length} B uncapped; ` +
      `--max-vips ${DEFAULT_MAX_VIPS} (default): ${capped.ms.toFixed(0)} ms / ${capped.series} / ${capped.filter.length} B; ` +
      `--vip-cidr 192.168.1.0/24: ${allow.ms.toFixed(0)} ms / ${allow.series} / ${allow.filter.length} B; one VIP: ${base.ms.toFixed(0)} ms / ${base.series} / ${base.filter.length} B`,
  );
  expect(before.followed).toHaveLength(501);
  expect(DEFAULT_MAX_VIPS).toBe(64);
  expect(capped.followed).toHaveLength(64);
  // The VIP this node announces is kept over the externalIPs.
  expect(capped.followed[0]!.ip).toBe('192.168.1.240');
  expect(capped.m.notWatched).toHaveLength(437);
  expect(allow.followed.map((v) => v.ip)).toEqual(['192.168.1.240']);
  // With the allowlist the node costs what it costs with its one real VIP.
  expect(allow.series).toBe(base.series);
  expect(allow.filter).toBe(base.filter);
  expect(capped.series).toBeLessThan(before.series);
  const f = allow.m.findings().find((x) => x.type === 'vips-not-watched')!;
  expect(f.severity).toBe('warning');
  expect(f.summary).toMatch(/^500 VIPs are not watched .*500 outside --vip-cidrs \(192\.168\.1\.0\/24\)/);
  expect(f.evidence[0]).toMatch(/, and 490 more$/);
  expect(allow.text).toMatch(/asymroute_vips_not_watched\{reason="outside-vip-cidrs"\} 500/);
  expect(capped.text).toMatch(/asymroute_vips_not_watched\{reason="over-max-vips"\} 437/);
  const v = (await allow.m
    .endpoints()
    .find((e) => e.path === '/v1/vips')!
    .get({})) as { body: { notWatched: { count: number; vips: unknown[] } } };
  expect(v.body.notWatched.count).toBe(500);
  expect(v.body.notWatched.vips).toHaveLength(256);
  expect(allow.m.report().text.join('\n')).toMatch(
    /VIPs not watched: 500 \(500 outside --vip-cidrs 192\.168\.1\.0\/24, 0 over --max-vips 256\)/,
  );
  expect(base.m.findings().some((x) => x.type === 'vips-not-watched')).toBe(false);
});
