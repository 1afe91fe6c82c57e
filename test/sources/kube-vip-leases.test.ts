// kube-vip's Lease watcher against the local Kubernetes API: the fieldSelector that keeps kube-node-lease out, the cap
// on the Leases held (new ones ignored and counted, taken in once room is made), renewals that are not changes, and a
// new list when the wanted set grows.

import { afterEach, describe, expect, it } from 'vitest';
import { leaseWatcher, loadKubeConfig, MAX_KUBEVIP_LEASES, type ListWatcher } from '../../agent/kubernetes/api.js';
import type { KubeVipLease } from '../../agent/kubernetes/objects.js';
import { startKubeApi } from '../helpers/kube-api.js';
import { until } from '../helpers/wait.js';

const PATH = '/apis/coordination.k8s.io/v1/leases';

const lease = (ns: string, name: string, holder: string, renewTime = '2026-11-28T03:59:58.000000Z') => ({
  apiVersion: 'coordination.k8s.io/v1',
  kind: 'Lease',
  metadata: { name, namespace: ns, resourceVersion: '5' },
  spec: { holderIdentity: holder, leaseDurationSeconds: 15, renewTime },
});

let watcher: ListWatcher<KubeVipLease> | null = null;
afterEach(() => watcher?.stop());

describe('kube-vip Lease watcher', () => {
  it('holds at most MAX_KUBEVIP_LEASES, counts the rest, and takes an ignored one in once one goes away', async () => {
    const extra = 5;
    const many = Array.from({ length: MAX_KUBEVIP_LEASES + extra }, (_, i) => lease('shop', `kubevip-s${i}`, 'node-a'));
    const api = await startKubeApi({
      lists: {
        [PATH]: {
          kind: 'LeaseList',
          apiVersion: 'coordination.k8s.io/v1',
          metadata: { resourceVersion: '100' },
          // A node heartbeat Lease whose name looks like kube-vip's: only the fieldSelector keeps it out.
          items: [lease('kube-node-lease', 'kubevip-node', 'node-a'), lease('kube-system', 'kube-controller-manager', 'cp-1'), ...many],
        },
      },
    });
    const changes: number[] = [];
    watcher = leaseWatcher({
      kubeconfig: loadKubeConfig(api.kubeconfig)!,
      wanted: (l) => l.split('/')[1]!.startsWith('kubevip-'),
      onChange: (items) => changes.push(items.length),
    });
    watcher.start();
    await until(() => api.requests.some((r) => r.path === PATH && r.search.includes('watch=true')), 'the watch');
    expect(api.requests.filter((r) => r.path === PATH).map((r) => new URLSearchParams(r.search).get('fieldSelector'))).toEqual([
      'metadata.namespace!=kube-node-lease',
      'metadata.namespace!=kube-node-lease',
    ]);
    expect(watcher.status).toMatchObject({ objects: MAX_KUBEVIP_LEASES, ignored: extra });
    const held = () => new Set(watcher!.items().map((l) => l.lease));
    expect(held().has('kube-node-lease/kubevip-node')).toBe(false);
    expect(held().has('kube-system/kube-controller-manager')).toBe(false);
    const last = `shop/kubevip-s${MAX_KUBEVIP_LEASES + extra - 1}`;
    expect(held().has(last)).toBe(false);

    // Full: a new Lease is ignored and counted; a renewal of an ignored one changes nothing.
    api.emit(PATH, 'ADDED', lease('shop', 'kubevip-new', 'node-a'));
    await until(() => watcher!.status.ignored === extra + 1, 'the ADDED past the cap counted');
    expect(held().has('shop/kubevip-new')).toBe(false);
    // One held goes away: the next event of an ignored one takes its place.
    api.emit(PATH, 'DELETED', lease('shop', 'kubevip-s0', 'node-a'));
    await until(() => watcher!.status.objects === MAX_KUBEVIP_LEASES - 1, 'the DELETED');
    api.emit(PATH, 'MODIFIED', lease('shop', `kubevip-s${MAX_KUBEVIP_LEASES + extra - 1}`, 'node-b'));
    await until(() => held().has(last), 'the ignored Lease taken in');
    expect(watcher.status.objects).toBe(MAX_KUBEVIP_LEASES);
    expect(watcher.items().find((l) => l.lease === last)!.holder).toBe('node-b');
  });

  it('a renewal (same holder) is stored without onChange; a new holder is a change', async () => {
    const api = await startKubeApi({
      lists: { [PATH]: { kind: 'LeaseList', metadata: { resourceVersion: '1' }, items: [lease('shop', 'kubevip-web', 'node-a')] } },
    });
    const holders: string[] = [];
    watcher = leaseWatcher({
      kubeconfig: loadKubeConfig(api.kubeconfig)!,
      wanted: () => true,
      onChange: (items) => holders.push(items.map((l) => l.holder).join(',')),
    });
    watcher.start();
    await until(() => api.emit(PATH, 'MODIFIED', lease('shop', 'kubevip-web', 'node-a', '2026-11-28T04:00:01.000000Z')) === 1, 'the watch');
    await until(() => watcher!.items()[0]!.renewedAt === Date.parse('2026-11-28T04:00:01Z'), 'the renewal stored');
    expect(holders).toEqual(['node-a']);
    api.emit(PATH, 'MODIFIED', lease('shop', 'kubevip-web', 'node-b', '2026-11-28T04:00:02.000000Z'));
    await until(() => holders.length === 2, 'the new holder');
    expect(holders).toEqual(['node-a', 'node-b']);
  });

  it('lists again when asked (a Lease named by kube-vip.io/leaseName became wanted)', async () => {
    const api = await startKubeApi({
      lists: { [PATH]: { kind: 'LeaseList', metadata: { resourceVersion: '1' }, items: [lease('kube-system', 'common', 'node-c')] } },
    });
    let named = new Set<string>();
    const errors: string[] = [];
    watcher = leaseWatcher({
      kubeconfig: loadKubeConfig(api.kubeconfig)!,
      wanted: (l) => named.has(l),
      onChange: () => undefined,
      onError: (e) => errors.push(e),
    });
    watcher.start();
    await until(() => api.emit(PATH, 'MODIFIED', lease('kube-system', 'common', 'node-c')) === 1, 'the watch');
    expect(watcher.items()).toEqual([]);
    named = new Set(['kube-system/common']);
    watcher.relist();
    await until(() => watcher!.items().length === 1, 'the new list');
    expect(watcher.items()[0]).toMatchObject({ lease: 'kube-system/common', holder: 'node-c' });
    // A new list on purpose, not a broken watch retried after a backoff.
    expect(watcher.status.lists).toBe(2);
    expect(errors).toEqual([]);
    expect(watcher.status.lastError).toBeNull();
  });
});
