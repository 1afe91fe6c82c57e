// MetalLB BGPPeer objects and which of them apply to a node (Kubernetes label-selector semantics).

import { describe, expect, it } from 'vitest';
import {
  bgpPeerOf,
  bgpStatusOf,
  MAX_STATUS_PEERS,
  peersForNode,
  selectorMatches,
  type LabelSelector,
} from '../../agent/kubernetes/objects.js';

const peer = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: 'metallb.io/v1beta2',
  kind: 'BGPPeer',
  metadata: { name, namespace: 'metallb-system', resourceVersion: '5' },
  spec,
});
const sel = (s: Partial<LabelSelector>): LabelSelector => ({ matchLabels: {}, matchExpressions: [], ...s });
const NODE = { 'kubernetes.io/hostname': 'node-a', rack: 'r1', 'bgp-enabled': 'true' };

describe('selectorMatches', () => {
  it.each([
    ['empty selector', sel({}), true],
    ['matchLabels equal', sel({ matchLabels: { rack: 'r1' } }), true],
    ['matchLabels differ', sel({ matchLabels: { rack: 'r2' } }), false],
    ['In', sel({ matchExpressions: [{ key: 'rack', operator: 'In', values: ['r1', 'r3'] }] }), true],
    ['In, label missing', sel({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }), false],
    ['NotIn', sel({ matchExpressions: [{ key: 'rack', operator: 'NotIn', values: ['r1'] }] }), false],
    ['NotIn, label missing', sel({ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }), true],
    ['Exists', sel({ matchExpressions: [{ key: 'bgp-enabled', operator: 'Exists', values: [] }] }), true],
    ['DoesNotExist', sel({ matchExpressions: [{ key: 'bgp-enabled', operator: 'DoesNotExist', values: [] }] }), false],
    ['unknown operator matches nothing', sel({ matchExpressions: [{ key: 'rack', operator: 'Gt', values: ['0'] }] }), false],
  ])('%s', (_n, s, expected) => {
    expect(selectorMatches(s, NODE)).toBe(expected);
  });
});

describe('bgpPeerOf and peersForNode', () => {
  it('reads peerAddress and nodeSelectors, skips malformed objects', () => {
    expect(bgpPeerOf(peer('router-a', { myASN: 64512, peerASN: 64500, peerAddress: '192.168.1.254' }))).toEqual({
      name: 'metallb-system/router-a',
      peer: '192.168.1.254',
      nodeSelectors: [],
    });
    expect(bgpPeerOf(peer('bad', { peerAddress: 'router.example' }))).toBeNull();
    expect(bgpPeerOf(peer('none', {}))).toBeNull();
    expect(bgpPeerOf(null)).toBeNull();
  });

  it('applies a peer without selectors everywhere, one with selectors where one matches, and none with selectors when labels are unknown', () => {
    const all = bgpPeerOf(peer('all', { peerAddress: '10.0.0.1' }))!;
    const r1 = bgpPeerOf(
      peer('r1', { peerAddress: '10.0.0.2', nodeSelectors: [{ matchLabels: { rack: 'r2' } }, { matchLabels: { rack: 'r1' } }] }),
    )!;
    const r2 = bgpPeerOf(peer('r2', { peerAddress: '10.0.0.3', nodeSelectors: [{ matchLabels: { rack: 'r2' } }] }))!;
    const broken = bgpPeerOf(peer('broken', { peerAddress: '10.0.0.4', nodeSelectors: ['rack=r1'] }))!;
    expect(peersForNode([all, r1, r2, broken], NODE).map((p) => p.peer)).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(peersForNode([all, r1, r2], null).map((p) => p.peer)).toEqual(['10.0.0.1']);
  });
});

describe('ServiceBGPStatus', () => {
  const status = (st: Record<string, unknown>) => ({
    apiVersion: 'metallb.io/v1beta1',
    kind: 'ServiceBGPStatus',
    metadata: { name: 'x' },
    spec: {},
    status: st,
  });
  it('reads the node, the Service and the peers; drops malformed peer names and objects', () => {
    expect(bgpStatusOf(status({ node: 'n1', serviceName: 'web', serviceNamespace: 'shop', peers: ['tor-b', 'tor-a', 'tor-a'] }))).toEqual({
      service: 'shop/web',
      node: 'n1',
      peers: ['tor-a', 'tor-b'],
    });
    expect(bgpStatusOf(status({ node: 'n1', serviceName: 'web', serviceNamespace: 'shop' }))).toMatchObject({ peers: [] });
    expect(
      bgpStatusOf(status({ node: 'n1', serviceName: 'web', serviceNamespace: 'shop', peers: ['ok', 'Bad Name', 7, '$(x)'] }))!.peers,
    ).toEqual(['ok']);
    expect(bgpStatusOf(status({ serviceName: 'web', serviceNamespace: 'shop' }))).toBeNull();
    expect(bgpStatusOf(status({ node: 'n1', serviceName: 'web', serviceNamespace: 'shop', peers: 'tor-a' }))).toBeNull();
    const many = Array.from({ length: MAX_STATUS_PEERS + 1 }, (_, i) => `p${i}`);
    expect(bgpStatusOf(status({ node: 'n1', serviceName: 'web', serviceNamespace: 'shop', peers: many }))).toBeNull();
    expect(bgpStatusOf(null)).toBeNull();
  });
});
