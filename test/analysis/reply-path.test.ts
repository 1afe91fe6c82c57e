// Reply-path findings from saved snapshots (offline mode: the route model answers alone).

import { describe, expect, it } from 'vitest';
import { checkReplyPaths } from '../../agent/reply-path/check.js';
import { DEFAULT_MANAGEMENT_CIDRS } from '../../agent/reply-path/verdicts.js';
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
    expect(
      r.findings.find((f) => f.type === 'asymmetric-reply-path')!.remediation.find((x) => x.title.startsWith('move the default route'))!
        .commands,
    ).toEqual(['ip route del default via 192.168.121.1 dev eth0', 'ip route add default via 192.168.1.254 dev eth1']);
  });

  it('a multipath default over eth0 and eth1: some flows leave on eth0', async () => {
    const s = snapshot([], []);
    s.routes[0] = route({ dst: 'default', nexthops: [...via('192.168.121.1', 'eth0'), ...via('192.168.1.254', 'eth1')] });
    const r = await run(s);
    expect(types(r)).toEqual(['asymmetric-reply-path', 'default-route-on-management-network', 'multipath-default-spans-interfaces']);
    expect(r.findings.find((f) => f.type === 'asymmetric-reply-path')!.egress).toBe('eth0,eth1');
  });

  it('a VIP that is not a local address and no backend: routed by destination, connmark instead of a source rule', async () => {
    const r = await run(snapshot([], []), { vip: '192.168.1.250' });
    expect(types(r)).toEqual(['asymmetric-reply-path', 'default-route-on-management-network', 'vip-not-local']);
    const f = r.findings.find((x) => x.type === 'asymmetric-reply-path')!;
    expect(f.remediation.map((x) => x.title.split(':')[0])).toEqual([
      'connmark policy routing (iptables)',
      'the same in nft syntax (a table of its own)',
      'moving the default route to eth1 needs its router',
    ]);
    expect(f.remediation[0]!.note).toMatch(/^192\.168\.1\.250 is not an address of this host/);
    expect(f.remediation.some((x) => x.commands.some((c) => c.includes('from 192.168.1.250')))).toBe(false);
    expect(r.vips[0]!.paths[0]!.question).toEqual({ dst: '203.0.113.77', src: null });
    expect(r.vips[0]!.paths[0]!.kind).toBe('destination-only');
  });

  it('a VIP that is not a local address, no backend known, default route on its interface: unknown, never ok', async () => {
    const s = snapshot([], []);
    s.routes[0] = route({ dst: 'default', nexthops: via('192.168.1.254', 'eth1') });
    const r = await run(s, { vip: '192.168.1.250' });
    expect(types(r)).toEqual(['reply-path-unknown', 'vip-not-local']);
    expect(r.vips[0]!.paths.every((p) => p.verdict === 'unknown' || p.clientKind === 'gateway')).toBe(true);
    expect(r.findings[0]!.summary).toMatch(/no DNAT rule, conntrack entry or EndpointSlice names a backend/);
  });

  it('healthy routes but no ruleset in the snapshot: unknown, never ok', async () => {
    const s = snapshot([], []);
    s.routes[0] = route({ dst: 'default', nexthops: via('192.168.1.254', 'eth1') });
    delete s.netfilter;
    const r = await run(s);
    expect(types(r)).toEqual(['reply-path-unknown']);
    expect(r.findings[0]!.evidence[0]).toBe('why: the snapshot holds no netfilter ruleset (taken without it)');
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
    expect(r.vips[0]!.paths.filter((p) => p.verdict === 'symmetric').map((p) => p.client)).toEqual([
      '203.0.113.77',
      '203.0.113.1',
      '192.168.1.254',
    ]);
  });
});
