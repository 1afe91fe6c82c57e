// Reply-path findings from saved snapshots (offline mode: the route model answers alone).

import { describe, expect, it } from 'vitest';
import { checkReplyPaths, DEFAULT_MANAGEMENT_CIDRS } from '../../agent/analysis/reply-path.js';
import type { HostSnapshot } from '../../agent/model/host-state.js';
import { route, snapshot, via } from '../helpers/snapshot.js';

const VIP = { ip: '192.168.1.240', ingress: null, source: 'flag' as const };

async function run(snap: HostSnapshot, opts: { vip?: string; clients?: string[]; gateways?: Record<string, string> } = {}) {
  return checkReplyPaths({
    snapshot: snap,
    vips: [{ ...VIP, ip: opts.vip ?? VIP.ip }],
    clientCidrs: opts.clients ?? ['203.0.113.0/24'],
    managementCidrs: DEFAULT_MANAGEMENT_CIDRS,
    gateways: opts.gateways,
    oracle: async () => null,
  });
}
const types = (r: Awaited<ReturnType<typeof run>>) => r.findings.map((f) => f.type).sort();

describe('reply-path findings (offline)', () => {
  it('the incident, with the operator-given gateway in the fixes', async () => {
    const r = await run(snapshot([], []), { gateways: { eth1: '192.168.1.1' } });
    expect(types(r)).toEqual(['asymmetric-reply-path', 'default-route-on-management-network']);
    const f = r.findings[0]!;
    expect(f.remediation[0]!.commands).toContain('ip route add default via 192.168.1.1 dev eth1 table 100');
    expect(f.remediation[0]!.note).toMatch(/^gateway: configured\./);
  });

  it('no gateway known on the ingress: a placeholder, and it says so', async () => {
    const r = await run(snapshot([], []));
    const f = r.findings.find((x) => x.type === 'asymmetric-reply-path')!;
    expect(f.remediation[0]!.commands).toContain('ip route add default via <gateway-on-eth1> dev eth1 table 100');
    expect(f.remediation[0]!.note).toMatch(/no gateway on eth1 is known/);
  });

  it('competing default routes: the lower metric on eth0 wins', async () => {
    const s = snapshot([route({ dst: 'default', metric: 200, nexthops: via('192.168.1.254', 'eth1') })], []);
    s.routes[0] = route({ dst: 'default', metric: 100, nexthops: via('192.168.121.1', 'eth0') });
    const r = await run(s);
    expect(types(r)).toEqual(['asymmetric-reply-path', 'competing-default-routes', 'default-route-on-management-network']);
    expect(r.findings.find((f) => f.type === 'asymmetric-reply-path')!.remediation[1]!.commands).toEqual([
      'ip route del default via 192.168.121.1 dev eth0',
      'ip route add default via 192.168.1.254 dev eth1',
    ]);
  });

  it('a multipath default over eth0 and eth1: some flows leave on eth0', async () => {
    const s = snapshot([], []);
    s.routes[0] = route({ dst: 'default', nexthops: [...via('192.168.121.1', 'eth0'), ...via('192.168.1.254', 'eth1')] });
    const r = await run(s);
    expect(types(r)).toEqual(['asymmetric-reply-path', 'default-route-on-management-network', 'multipath-default-spans-interfaces']);
    expect(r.findings.find((f) => f.type === 'asymmetric-reply-path')!.egress).toBe('eth0,eth1');
  });

  it('a VIP that is not a local address: routed by destination, source policy routing does not apply', async () => {
    const r = await run(snapshot([], []), { vip: '192.168.1.250' });
    expect(types(r)).toEqual(['asymmetric-reply-path', 'default-route-on-management-network', 'vip-not-local']);
    const f = r.findings.find((x) => x.type === 'asymmetric-reply-path')!;
    expect(f.remediation[0]).toMatchObject({ title: 'policy routing by source does not apply', commands: [] });
    expect(r.vips[0]!.paths[0]!.question).toEqual({ dst: '203.0.113.77', src: null });
  });

  it('no route back to a client network: reply-unroutable', async () => {
    const s = snapshot([], []);
    s.routes.splice(0, 1); // no default route
    const r = await run(s);
    expect(types(r)).toEqual(['reply-unroutable', 'reply-unroutable']);
    expect(r.findings.map((f) => f.severity)).toEqual(['critical', 'warning']);
  });

  it('healthy: a default route on the VIP interface', async () => {
    const s = snapshot([], []);
    s.routes[0] = route({ dst: 'default', nexthops: via('192.168.1.254', 'eth1') });
    const r = await run(s);
    expect(r.findings).toEqual([]);
    expect(r.vips[0]!.paths.filter((p) => p.verdict === 'symmetric').map((p) => p.client)).toEqual(['203.0.113.77', '203.0.113.1', '192.168.1.254']);
  });
});
