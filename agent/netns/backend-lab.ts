// The incident topology behind a Kubernetes-style datapath: the VIP DNAT'd (kube-proxy iptables mode) to a pod on
// the node, to a pod on a second node (SNAT'd, externalTrafficPolicy: Cluster) or to a hostNetwork address, or
// answered by a socket on the VIP itself. Used by `asymroute demo --backend` and the forward-path matrix test.

import { buildIncidentLab, type IncidentLab } from './incident-lab.js';
import { NetnsLab, startTcpServer, type Netns, type TcpServer } from './netns.js';

export type BackendKind = 'local-pod' | 'remote-pod' | 'host-network' | 'local-socket';
/** local: kube-vip ARP mode / IPVS (the VIP is an address of the node); not-local: MetalLB L2 with iptables kube-proxy */
export type VipMode = 'local' | 'not-local';

export const SERVICE_PORT = 443;
export const BACKEND_PORT = 8443;

export const POD = { nodeSide: '10.244.1.1', pod: '10.244.1.5', len: 24 } as const;
export const REMOTE = {
  node: '10.10.0.1',
  node2: '10.10.0.2',
  len: 24,
  podNet: '10.244.2.0/24',
  node2Side: '10.244.2.1',
  pod: '10.244.2.5',
} as const;

export interface BackendLab extends IncidentLab {
  backend: BackendKind;
  vipMode: VipMode;
  /** the address and port the VIP's port 443 ends up at */
  backendIp: string;
  backendPort: number;
  pod: Netns | null;
  node2: Netns | null;
  server: TcpServer;
}

export async function buildBackendLab(labOrTag: NetnsLab | string, backend: BackendKind, vipMode: VipMode): Promise<BackendLab> {
  if (backend === 'local-socket' && vipMode === 'not-local')
    throw new Error('a local socket on the VIP needs the VIP to be a local address');
  const lab = typeof labOrTag === 'string' ? new NetnsLab(labOrTag) : labOrTag;
  const l = await buildIncidentLab(lab, { vipOn: vipMode === 'local' ? 'eth1' : 'none' });
  try {
    const node = l.node;
    await node.sysctl('net.ipv4.ip_forward', 1);
    let pod: Netns | null = null;
    let node2: Netns | null = null;
    let backendIp: string;
    let backendPort = BACKEND_PORT;
    let server: TcpServer;
    if (backend === 'local-pod') {
      pod = await lab.add('pod');
      await lab.link(node, 'vethpod', pod, 'eth0');
      await node.ip(['addr', 'add', `${POD.nodeSide}/${POD.len}`, 'dev', 'vethpod']);
      await pod.ip(['addr', 'add', `${POD.pod}/${POD.len}`, 'dev', 'eth0']);
      await pod.ip(['route', 'add', 'default', 'via', POD.nodeSide]);
      backendIp = POD.pod;
      server = await startTcpServer(pod, '0.0.0.0', BACKEND_PORT);
    } else if (backend === 'remote-pod') {
      node2 = await lab.add('node2');
      pod = await lab.add('pod');
      await lab.link(node, 'nodelink', node2, 'nodelink');
      await node.ip(['addr', 'add', `${REMOTE.node}/${REMOTE.len}`, 'dev', 'nodelink']);
      await node2.ip(['addr', 'add', `${REMOTE.node2}/${REMOTE.len}`, 'dev', 'nodelink']);
      await node.ip(['route', 'add', REMOTE.podNet, 'via', REMOTE.node2, 'dev', 'nodelink']);
      await node2.sysctl('net.ipv4.ip_forward', 1);
      await lab.link(node2, 'vethpod', pod, 'eth0');
      await node2.ip(['addr', 'add', `${REMOTE.node2Side}/24`, 'dev', 'vethpod']);
      await pod.ip(['addr', 'add', `${REMOTE.pod}/24`, 'dev', 'eth0']);
      await pod.ip(['route', 'add', 'default', 'via', REMOTE.node2Side]);
      // kube-proxy masquerades what it sends to another node's pod, so the replies come back through this node.
      await node.exec(['iptables', '-t', 'nat', '-A', 'POSTROUTING', '-o', 'nodelink', '-j', 'MASQUERADE']);
      backendIp = REMOTE.pod;
      server = await startTcpServer(pod, '0.0.0.0', BACKEND_PORT);
    } else if (backend === 'host-network') {
      backendIp = '192.168.1.10';
      server = await startTcpServer(node, backendIp, BACKEND_PORT);
    } else {
      backendIp = l.vip;
      backendPort = SERVICE_PORT;
      server = await startTcpServer(node, l.vip, SERVICE_PORT);
    }
    if (backend !== 'local-socket') {
      await node.exec([
        'iptables',
        '-t',
        'nat',
        '-A',
        'PREROUTING',
        '-d',
        `${l.vip}/32`,
        '-p',
        'tcp',
        '-m',
        'tcp',
        '--dport',
        String(SERVICE_PORT),
        '-j',
        'DNAT',
        '--to-destination',
        `${backendIp}:${BACKEND_PORT}`,
      ]);
    }
    return { ...l, backend, vipMode, backendIp, backendPort, pod, node2, server };
  } catch (e) {
    await lab.destroy();
    throw e;
  }
}
