// Which VIP spec wins when the operator and Kubernetes both name an address.

import { expect, it } from 'vitest';
import { mergeVips } from '../../agent/reply-path/check-monitor.js';
import type { VipSpec } from '../../agent/analysis/vips.js';

const fromK8s: VipSpec = {
  ip: '192.168.1.240',
  ingress: 'eth1',
  ingressReason: 'MetalLB announces it from this node on eth1',
  source: 'kubernetes',
  service: 'shop/web',
  announcement: { nodes: ['me'], here: true, interfaces: ['eth1'] },
};

it.each([
  [
    'configured without ingress: the Service, MetalLB ingress and announcement stay',
    { ip: '192.168.1.240', ingress: null, source: 'flag' },
    { ingress: 'eth1', source: 'flag', service: 'shop/web', ingressReason: 'MetalLB announces it from this node on eth1' },
  ],
  [
    'configured with ingress: the operator wins',
    { ip: '192.168.1.240', ingress: 'eth7', source: 'config' },
    { ingress: 'eth7', source: 'config', service: 'shop/web', ingressReason: undefined },
  ],
] as Array<[string, VipSpec, Partial<VipSpec>]>)('%s', (_n, configured, expected) => {
  const [v] = mergeVips([configured], [fromK8s]);
  expect(v).toMatchObject(expected);
  expect(v!.announcement?.here).toBe(true);
});

it('keeps VIPs only one side knows', () => {
  expect(
    mergeVips([{ ip: '10.0.0.1', ingress: null, source: 'flag' }], [fromK8s])
      .map((v) => v.ip)
      .sort(),
  ).toEqual(['10.0.0.1', '192.168.1.240']);
});
