// One L2 segment in namespaces: a bridge in "lan" joining a client, the node (where the agent runs, eth1) and two
// speakers that can each hold the VIP and answer ARP for it, as MetalLB speakers do.

import { NetnsLab, tcpConnect, type Netns } from '../../agent/netns/netns.js';

export const L2 = {
  vip: '192.168.1.240',
  client: '192.168.1.50',
  node: '192.168.1.10',
  spkA: '192.168.1.11',
  spkB: '192.168.1.12',
} as const;
/** The same segment in IPv6 (addresses added without duplicate address detection, so they are usable at once). */
export const L2V6 = {
  vip: '2001:db8:1::240',
  client: '2001:db8:1::50',
  node: '2001:db8:1::10',
  spkA: '2001:db8:1::11',
  spkB: '2001:db8:1::12',
} as const;

export interface L2Lab {
  lab: NetnsLab;
  lan: Netns;
  client: Netns;
  node: Netns;
  spkA: Netns;
  spkB: Netns;
}

export async function buildL2Lab(tag: string): Promise<L2Lab> {
  const lab = new NetnsLab(tag);
  try {
    const lan = await lab.add('lan');
    await lan.ip(['link', 'add', 'br0', 'type', 'bridge']);
    await lan.ip(['link', 'set', 'br0', 'up']);
    const join = async (role: string, ifname: string, addr: string, addr6: string) => {
      const ns = await lab.add(role);
      const port = `p-${role}`.slice(0, 15);
      await lab.link(lan, port, ns, ifname);
      await lan.ip(['link', 'set', port, 'master', 'br0']);
      await ns.ip(['addr', 'add', `${addr}/24`, 'dev', ifname]);
      await ns.ip(['addr', 'add', `${addr6}/64`, 'dev', ifname, 'nodad']);
      return ns;
    };
    const client = await join('client', 'eth0', L2.client, L2V6.client);
    const node = await join('node', 'eth1', L2.node, L2V6.node);
    const spkA = await join('spka', 'eth0', L2.spkA, L2V6.spkA);
    const spkB = await join('spkb', 'eth0', L2.spkB, L2V6.spkB);
    return { lab, lan, client, node, spkA, spkB };
  } catch (e) {
    await lab.destroy();
    throw e;
  }
}

/** The speaker takes the VIP (the kernel answers ARP for it) and announces it with gratuitous ARP, like a failover. */
export async function announce(spk: Netns): Promise<void> {
  await spk.ip(['addr', 'add', `${L2.vip}/32`, 'dev', 'eth0']);
  await spk.exec(['arping', '-q', '-U', '-c', '2', '-w', '3', '-I', 'eth0', L2.vip], { check: false });
}

/** The speaker dies: nobody on it answers for the VIP any more. */
export async function withdraw(spk: Netns): Promise<void> {
  await spk.ip(['addr', 'del', `${L2.vip}/32`, 'dev', 'eth0']);
}

/** The client forgets the VIP's MAC and connects to it: its kernel asks who has it, and retries if unanswered. */
export async function clientAsks(client: Netns, ms = 3500): Promise<void> {
  await client.ip(['neigh', 'flush', 'dev', 'eth0']);
  await tcpConnect(client, L2.vip, 443, ms);
}

/** IPv6: the speaker takes the VIP and the kernel announces it with an unsolicited neighbour advertisement. */
export async function announce6(spk: Netns): Promise<void> {
  await spk.sysctl('net.ipv6.conf.eth0.ndisc_notify', 1);
  await spk.ip(['addr', 'add', `${L2V6.vip}/128`, 'dev', 'eth0', 'nodad']);
}

export async function clientAsks6(client: Netns, ms = 3500): Promise<void> {
  await client.ip(['-6', 'neigh', 'flush', 'dev', 'eth0']);
  await tcpConnect(client, L2V6.vip, 443, ms);
}
