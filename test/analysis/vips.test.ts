// Joining MetalLB's L2 announcements to Kubernetes VIPs.

import { describe, expect, it } from 'vitest';
import { applyAnnouncements, chooseIngress, type VipSpec } from '../../agent/analysis/vips.js';
import { snapshot } from '../helpers/snapshot.js';

const k8s = (ip: string, service: string): VipSpec => ({ ip, ingress: null, source: 'kubernetes', service });

describe('applyAnnouncements', () => {
  it.each([
    [
      'announced here on one interface: that is the ingress',
      [{ service: 'shop/web', node: 'me', interfaces: ['eth1'] }],
      { ingress: 'eth1', announcement: { nodes: ['me'], here: true, interfaces: ['eth1'] } },
    ],
    [
      'announced here on two interfaces: no single ingress to pin',
      [{ service: 'shop/web', node: 'me', interfaces: ['eth1', 'eth2'] }],
      { ingress: null, announcement: { nodes: ['me'], here: true, interfaces: ['eth1', 'eth2'] } },
    ],
    [
      'announced by another node',
      [{ service: 'shop/web', node: 'node-b', interfaces: ['ens4'] }],
      { ingress: null, announcement: { nodes: ['node-b'], here: false, interfaces: [] } },
    ],
    [
      'another Service announced here: untouched',
      [{ service: 'shop/cart', node: 'me', interfaces: ['eth1'] }],
      { ingress: null, announcement: undefined },
    ],
  ])('%s', (_n, anns, expected) => {
    const [v] = applyAnnouncements([k8s('192.168.1.240', 'shop/web')], anns, 'me');
    expect({ ingress: v!.ingress, announcement: v!.announcement }).toEqual(expected);
  });

  it('never overrides an ingress the operator pinned', () => {
    const [v] = applyAnnouncements(
      [{ ...k8s('192.168.1.240', 'shop/web'), ingress: 'eth9' }],
      [{ service: 'shop/web', node: 'me', interfaces: ['eth1'] }],
      'me',
    );
    expect(v!.ingress).toBe('eth9');
    expect(v!.announcement?.here).toBe(true);
  });

  it('says where the ingress came from in the report', () => {
    const snap = snapshot([], []);
    const [v] = applyAnnouncements([k8s('192.168.1.240', 'shop/web')], [{ service: 'shop/web', node: 'me', interfaces: ['eth1'] }], 'me');
    expect(chooseIngress(v!, snap)).toMatchObject({
      ingress: 'eth1',
      reason: 'MetalLB announces it from this node on eth1',
      configured: true,
    });
  });
});
