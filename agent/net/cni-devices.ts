// Interface names that CNI plugins and container runtimes create: one documented list (docs/operations.md).

/** Device names CNI plugins and container runtimes create: never a VIP's ingress, never where a default route goes. */
const CNI_DEVICE_PATTERNS: ReadonlyArray<{ re: RegExp; who: string }> = [
  { re: /^flannel[.-]/, who: 'flannel' },
  { re: /^cni[0-9]*$/, who: 'CNI bridge (flannel, bridge plugin)' },
  { re: /^cali/, who: 'Calico workload veth' },
  { re: /^tunl[0-9]+$/, who: 'Calico IPIP' },
  { re: /^vxlan[.-]calico$|^vxlan-v6\.calico$/, who: 'Calico VXLAN' },
  { re: /^wireguard\.cali$|^wg-v6\.cali$/, who: 'Calico WireGuard' },
  { re: /^cilium_/, who: 'Cilium' },
  { re: /^lxc/, who: 'Cilium endpoint veth' },
  { re: /^kube-bridge$|^kube-dummy-if$/, who: 'kube-router' },
  { re: /^weave$|^vethwe|^datapath$|^vxlan-6784$/, who: 'Weave Net' },
  { re: /^docker[0-9]+$|^br-[0-9a-f]{12}$/, who: 'Docker' },
  { re: /^veth/, who: 'container veth' },
  { re: /^genev_sys_|^ovn-k8s-|^br-int$/, who: 'OVN-Kubernetes' },
  { re: /^antrea-/, who: 'Antrea' },
  { re: /^nodelocaldns$/, who: 'NodeLocal DNSCache' },
];

export function cniDevice(name: string): string | null {
  return CNI_DEVICE_PATTERNS.find((p) => p.re.test(name))?.who ?? null;
}
