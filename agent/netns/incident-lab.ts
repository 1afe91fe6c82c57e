// The Vagrant incident as network namespaces: client -- LAN router -- node(eth1) and node(eth0) -- management NAT.
// Used by `asymroute demo` and the scenario tests.

import { NetnsLab, udpPoke, type Netns } from './netns.js';

/** where the VIP address lives; 'none': not a local address (MetalLB L2 with kube-proxy: a speaker answers ARP) */
export type VipPlacement = 'eth1' | 'kube-ipvs0' | 'lo' | 'none';

export interface IncidentOptions {
  vipOn?: VipPlacement;
  ipv6?: boolean;
  /** VIP address outside every connected subnet (L2 announcement impossible) */
  vipOutsideSubnet?: boolean;
  /** rp_filter on the node's eth1 (all stays 0) */
  rpFilterEth1?: number;
}

export interface IncidentLab {
  lab: NetnsLab;
  client: Netns;
  router: Netns;
  mgmt: Netns;
  node: Netns;
  family: 4 | 6;
  vip: string;
  clientIp: string;
  clientCidr: string;
  lanGateway: string;
  mgmtGateway: string;
}

export const V4 = {
  client: '203.0.113.5',
  clientCidr: '203.0.113.0/24',
  routerClientSide: '203.0.113.1',
  lanGateway: '192.168.1.254',
  nodeLan: '192.168.1.10',
  vip: '192.168.1.240',
  vipOutside: '10.240.0.240',
  mgmtGateway: '192.168.121.1',
  nodeMgmt: '192.168.121.10',
} as const;

export const V6 = {
  client: '2001:db8:c::5',
  clientCidr: '2001:db8:c::/64',
  routerClientSide: '2001:db8:c::1',
  lanGateway: '2001:db8:1::fe',
  nodeLan: '2001:db8:1::10',
  vip: '2001:db8:1::240',
  vipOutside: '2001:db8:f0::240',
  mgmtGateway: '2001:db8:121::1',
  nodeMgmt: '2001:db8:121::10',
} as const;

/** `labOrTag`: a lab the caller already holds (so a signal handler can tear down a half-built one), or a tag. */
export async function buildIncidentLab(labOrTag: NetnsLab | string, opts: IncidentOptions = {}): Promise<IncidentLab> {
  const lab = typeof labOrTag === 'string' ? new NetnsLab(labOrTag) : labOrTag;
  try {
    const client = await lab.add('client');
    const router = await lab.add('router');
    const mgmt = await lab.add('mgmt');
    const node = await lab.add('node');
    await lab.link(client, 'eth0', router, 'to-client');
    await lab.link(router, 'lan', node, 'eth1');
    await lab.link(mgmt, 'to-node', node, 'eth0');
    for (const ns of [client, router, mgmt, node]) {
      await ns.sysctl('net.ipv4.conf.all.rp_filter', 0);
      await ns.sysctl('net.ipv4.conf.default.rp_filter', 0);
      await ns.sysctl('net.ipv6.conf.all.accept_dad', 0);
    }
    await router.sysctl('net.ipv4.ip_forward', 1);
    await router.sysctl('net.ipv6.conf.all.forwarding', 1);
    // The management NAT gateway does not forward what it did not translate: replies sent to it are lost.
    await mgmt.sysctl('net.ipv4.ip_forward', 0);
    await mgmt.sysctl('net.ipv6.conf.all.forwarding', 0);
    for (const i of ['eth0', 'eth1']) await node.sysctl(`net.ipv4.conf.${i}.rp_filter`, 0);

    const v6 = opts.ipv6 === true;
    const A = v6 ? V6 : V4;
    const len = v6 ? 64 : 24;
    const host = v6 ? 128 : 32;
    const fam = v6 ? '-6' : '-4';
    const nodad = v6 ? ['nodad'] : [];
    await client.ip([fam, 'addr', 'add', `${A.client}/${len}`, 'dev', 'eth0', ...nodad]);
    await client.ip([fam, 'route', 'add', 'default', 'via', A.routerClientSide, 'dev', 'eth0']);
    await router.ip([fam, 'addr', 'add', `${A.routerClientSide}/${len}`, 'dev', 'to-client', ...nodad]);
    await router.ip([fam, 'addr', 'add', `${A.lanGateway}/${len}`, 'dev', 'lan', ...nodad]);
    await mgmt.ip([fam, 'addr', 'add', `${A.mgmtGateway}/${len}`, 'dev', 'to-node', ...nodad]);
    await node.ip([fam, 'addr', 'add', `${A.nodeMgmt}/${len}`, 'dev', 'eth0', ...nodad]);
    await node.ip([fam, 'addr', 'add', `${A.nodeLan}/${len}`, 'dev', 'eth1', ...nodad]);
    const vip = opts.vipOutsideSubnet ? A.vipOutside : A.vip;
    const vipOn = opts.vipOn ?? 'eth1';
    if (vipOn === 'kube-ipvs0') {
      // No dummy links on this kernel: a port-less bridge stands in for kube-proxy's dummy kube-ipvs0.
      await node.ip(['link', 'add', 'name', 'kube-ipvs0', 'type', 'bridge']);
      await node.ip(['link', 'set', 'kube-ipvs0', 'up']);
    }
    if (vipOn !== 'none') await node.ip([fam, 'addr', 'add', `${vip}/${host}`, 'dev', vipOn, ...nodad]);
    if (opts.vipOutsideSubnet) {
      // The LAN router must still reach it for the test to mean anything: a static route, as BGP would install.
      await router.ip([fam, 'route', 'add', `${vip}/${host}`, 'via', A.nodeLan, 'dev', 'lan']);
    }
    await node.ip([fam, 'route', 'add', 'default', 'via', A.mgmtGateway, 'dev', 'eth0']);
    if (vipOn === 'none') {
      // What a user-space speaker's ARP/NDP answer achieves: the LAN router sends the VIP's traffic to eth1's MAC.
      const link = JSON.parse((await node.ip(['-j', 'link', 'show', 'eth1'])).stdout) as Array<{ address: string }>;
      await router.ip([fam, 'neigh', 'replace', vip, 'lladdr', link[0]!.address, 'dev', 'lan', 'nud', 'permanent']);
    }
    if (opts.rpFilterEth1 !== undefined) await node.sysctl('net.ipv4.conf.eth1.rp_filter', opts.rpFilterEth1);
    // The LAN router talks to the node, as it would on a live LAN: the node learns its neighbour entry.
    await udpPoke(router, A.nodeLan);
    await udpPoke(node, A.lanGateway);
    return {
      lab,
      client,
      router,
      mgmt,
      node,
      family: v6 ? 6 : 4,
      vip,
      clientIp: A.client,
      clientCidr: A.clientCidr,
      lanGateway: A.lanGateway,
      mgmtGateway: A.mgmtGateway,
    };
  } catch (e) {
    await lab.destroy();
    throw e;
  }
}

export async function fixByDefaultRoute(l: IncidentLab): Promise<void> {
  const fam = l.family === 6 ? '-6' : '-4';
  await l.node.ip([fam, 'route', 'replace', 'default', 'via', l.lanGateway, 'dev', 'eth1']);
}

export async function fixByPolicyRouting(l: IncidentLab, table = '100'): Promise<void> {
  const fam = l.family === 6 ? '-6' : '-4';
  await l.node.ip([fam, 'rule', 'add', 'from', l.vip, 'lookup', table]);
  await l.node.ip([fam, 'route', 'add', 'default', 'via', l.lanGateway, 'dev', 'eth1', 'table', table]);
}
