// modelAgrees, the production comparison the reply-path report prints as "model agrees": it must say false when any
// field differs and null (unknown) when the model declined, not only true.

import { describe, expect, it } from 'vitest';
import { modelAgrees } from '../../agent/reply-path/verdicts.js';
import type { KernelErrno, KernelVerdict } from '../../agent/model/route-question.js';
import { RouteModel, type ModelAnswer } from '../../agent/analysis/route-model.js';
import { route, snapshot, via } from '../helpers/snapshot.js';

const routeAnswer = (type: 'unicast' | 'local', ...candidates: Array<[string, string | null]>): ModelAnswer => ({
  kind: 'route',
  type,
  candidates: candidates.map(([dev, gateway]) => ({ dev, gateway })),
  route: null,
  rule: null,
  table: 'main',
  trace: [],
});
const errorAnswer = (errno: 'ENETUNREACH' | 'EHOSTUNREACH' | 'EACCES' | 'EINVAL'): ModelAnswer => ({
  kind: 'error',
  errno,
  reason: 'no-route',
  rule: null,
  route: null,
  trace: [],
});
const ok = (type: 'unicast' | 'local', dev: string, gateway: string | null): KernelVerdict => ({ ok: true, type, dev, gateway });
const fail = (errno: KernelErrno): KernelVerdict => ({ ok: false, errno, message: '' });

describe('modelAgrees', () => {
  it.each<[string, ModelAnswer, KernelVerdict, boolean | null]>([
    ['same device and gateway', routeAnswer('unicast', ['eth0', '192.0.2.1']), ok('unicast', 'eth0', '192.0.2.1'), true],
    [
      'kernel picked one of several candidates',
      routeAnswer('unicast', ['eth0', '192.0.2.1'], ['eth1', '198.51.100.1']),
      ok('unicast', 'eth1', '198.51.100.1'),
      true,
    ],
    ['other device', routeAnswer('unicast', ['eth0', '192.0.2.1']), ok('unicast', 'eth1', '192.0.2.1'), false],
    ['other gateway on the same device', routeAnswer('unicast', ['eth0', '192.0.2.1']), ok('unicast', 'eth0', '192.0.2.2'), false],
    ['gateway where the kernel has none', routeAnswer('unicast', ['eth0', '192.0.2.1']), ok('unicast', 'eth0', null), false],
    ['no gateway where the kernel has one', routeAnswer('unicast', ['eth0', null]), ok('unicast', 'eth0', '192.0.2.1'), false],
    [
      'device and gateway from different candidates',
      routeAnswer('unicast', ['eth0', '192.0.2.1'], ['eth1', '198.51.100.1']),
      ok('unicast', 'eth0', '198.51.100.1'),
      false,
    ],
    ['local where the kernel says unicast', routeAnswer('local', ['lo', null]), ok('unicast', 'lo', null), false],
    ['unicast where the kernel says local', routeAnswer('unicast', ['lo', null]), ok('local', 'lo', null), false],
    ['same errno', errorAnswer('EACCES'), fail('EACCES'), true],
    ['other errno', errorAnswer('EACCES'), fail('ENETUNREACH'), false],
    ['unreachable route errno against network unreachable', errorAnswer('EHOSTUNREACH'), fail('ENETUNREACH'), false],
    ['a route where the kernel failed', routeAnswer('unicast', ['eth0', null]), fail('ENETUNREACH'), false],
    ['an error where the kernel routed', errorAnswer('ENETUNREACH'), ok('unicast', 'eth0', null), false],
    ['the model declined, kernel routed', { kind: 'unknown', reason: 'x', trace: [] }, ok('unicast', 'eth0', null), null],
    ['the model declined, kernel failed', { kind: 'unknown', reason: 'x', trace: [] }, fail('EINVAL'), null],
  ])('%s', (_name, m, k, expected) => {
    expect(modelAgrees(m, k)).toBe(expected);
  });
});

describe('route model: equal-metric default routes (fib_select_default)', () => {
  it('offers every equal-metric IPv4 default gateway as a candidate, and only those', () => {
    const s = snapshot(
      [
        route({ dst: 'default', nexthops: via('192.168.1.254', 'eth1') }),
        route({ dst: 'default', metric: 10, nexthops: via('192.168.1.253', 'eth1') }),
      ],
      [],
    );
    const a = new RouteModel(s).lookup({ dst: '203.0.113.5' });
    expect(a.kind === 'route' && a.candidates).toEqual([
      { dev: 'eth0', gateway: '192.168.121.1' },
      { dev: 'eth1', gateway: '192.168.1.254' },
    ]);
  });
});
