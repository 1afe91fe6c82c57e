// Every metric of the agent, in one place: `asymroute_` prefix, an injected registry, values read from the agent at
// scrape time. Labels are VIPs, interfaces, finding types, outcomes: bounded sets, never client addresses or ports.

import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { FINDING_TYPES, SEVERITIES } from '../findings/registry.js';
import { FLOW_OUTCOMES } from '../analysis/flow-matcher.js';
import type { Agent } from '../runtime/agent.js';

export interface MetricsInfo {
  version: string;
  node: string;
}

/** A counter that follows a cumulative value read at scrape time (never decreasing). */
function followCounter(c: Counter<string>, seen: Map<string, number>, labels: Record<string, string>, value: number): void {
  const k = JSON.stringify(labels);
  const prev = seen.get(k) ?? 0;
  if (value > prev) c.inc(labels, value - prev);
  seen.set(k, Math.max(prev, value));
}

export function registerMetrics(registry: Registry, agent: Agent, info: MetricsInfo): void {
  const registers = [registry];
  const counterSeen = new Map<Counter<string>, Map<string, number>>();
  const follow = (c: Counter<string>, labels: Record<string, string>, v: number) => {
    let m = counterSeen.get(c);
    if (!m) counterSeen.set(c, (m = new Map()));
    followCounter(c, m, labels, v);
  };

  new Gauge({ name: 'asymroute_build_info', help: 'Build information; always 1.', labelNames: ['version', 'node'], registers }).set({ version: info.version, node: info.node }, 1);

  new Gauge({
    name: 'asymroute_reply_path_asymmetric',
    help: 'Per VIP: 1 when replies to an Internet client (the default-route destination) leave on another interface than requests arrive on, else 0.',
    labelNames: ['vip', 'ingress', 'egress'],
    registers,
    collect() {
      this.reset();
      for (const v of agent.result?.vips ?? []) {
        const p = v.paths.find((x) => x.clientKind === 'default-destination');
        if (!p) continue;
        this.set({ vip: v.ip, ingress: v.ingress ?? 'unknown', egress: p.egress.join(',') || 'none' }, p.verdict === 'asymmetric' ? 1 : 0);
      }
    },
  });

  new Gauge({
    name: 'asymroute_findings',
    help: 'Current findings by type and severity.',
    labelNames: ['type', 'severity'],
    registers,
    collect() {
      this.reset();
      const all = agent.findings.all();
      for (const type of FINDING_TYPES) for (const severity of SEVERITIES) {
        const n = all.filter((f) => f.type === type && f.severity === severity).length;
        if (n > 0) this.set({ type, severity }, n);
      }
    },
  });

  new Gauge({
    name: 'asymroute_flows',
    help: 'Flows to each VIP currently tracked (not yet expired), by outcome.',
    labelNames: ['vip', 'outcome'],
    registers,
    collect() {
      this.reset();
      if (!agent.matcher) return;
      for (const [vip, t] of agent.matcher.openTally(Date.now())) for (const o of FLOW_OUTCOMES) this.set({ vip, outcome: o }, t.outcomes[o]);
    },
  });

  new Gauge({
    name: 'asymroute_asymmetric_flows',
    help: 'Flows to each VIP currently tracked whose replies left on another interface than their requests arrived on, by interface pair.',
    labelNames: ['vip', 'ingress', 'egress'],
    registers,
    collect() {
      this.reset();
      if (!agent.matcher) return;
      for (const [vip, t] of agent.matcher.openTally(Date.now()))
        for (const [path, n] of Object.entries(t.paths)) {
          const [i, e] = path.split('>') as [string, string];
          if (e !== '-' && i !== '?' && i !== e) this.inc({ vip, ingress: i, egress: e }, n);
        }
    },
  });

  new Gauge({
    name: 'asymroute_vip_findings',
    help: 'Current findings that concern a VIP, by VIP, type and severity (alerts name the VIP from here).',
    labelNames: ['vip', 'type', 'severity'],
    registers,
    collect() {
      this.reset();
      for (const f of agent.findings.all()) if (f.vip) this.inc({ vip: f.vip, type: f.type, severity: f.severity });
    },
  });

  const ingress = new Counter({
    name: 'asymroute_vip_ingress_packets_total',
    help: 'Request packets to each VIP captured, by interface: TCP SYN, FIN and RST of every flow, data of the sampled flows only (asymroute_capture_sampled_flows_ratio). A node that never sees VIP traffic while its peers do is a symptom in itself.',
    labelNames: ['vip', 'interface'],
    registers,
    collect() {
      if (!agent.matcher) return;
      // Present at 0 from the start on each VIP's ingress: a series born with its first packets would hide that
      // first rise from increase(), and a node that never gets any would have no series to alert on.
      for (const v of agent.result?.vips ?? []) if (v.ingress) ingress.inc({ vip: v.ip, interface: v.ingress }, 0);
      for (const [vip, t] of agent.matcher.tally(Date.now())) for (const [iface, n] of Object.entries(t.ingressPackets)) follow(ingress, { vip, interface: iface }, n);
    },
  });

  // ARP (IPv4) and NDP (IPv6) for each VIP, from the capture: what the L2 findings are made of.
  const arpCounter = (name: string, help: string, key: 'requests' | 'repliesSent') => {
    const c: Counter<string> = new Counter({
      name,
      help,
      labelNames: ['vip', 'interface'],
      registers,
      collect() {
        for (const [k, v] of agent.arp?.counters ?? []) {
          const [vip, iface] = k.split('|') as [string, string];
          follow(c, { vip, interface: iface }, v[key]);
        }
      },
    });
    return c;
  };
  arpCounter('asymroute_vip_arp_requests_total', 'ARP who-has requests (NDP neighbour solicitations for IPv6) for each VIP received, by interface.', 'requests');
  arpCounter('asymroute_vip_arp_replies_total', 'ARP replies (NDP solicited advertisements for IPv6) for each VIP this node sent, by interface.', 'repliesSent');
  const announcements: Counter<string> = new Counter({
    name: 'asymroute_vip_arp_announcements_total',
    help: 'Gratuitous ARP announcements (NDP unsolicited advertisements for IPv6) of each VIP, by interface; origin "self" when this node sent them, "other" when another host did.',
    labelNames: ['vip', 'interface', 'origin'],
    registers,
    collect() {
      for (const [k, v] of agent.arp?.counters ?? []) {
        const [vip, iface] = k.split('|') as [string, string];
        follow(announcements, { vip, interface: iface, origin: 'self' }, v.announcementsSent);
        follow(announcements, { vip, interface: iface, origin: 'other' }, v.announcementsSeen);
      }
    },
  });
  new Gauge({
    name: 'asymroute_vip_arp_owners',
    help: 'Distinct MAC addresses that claimed each VIP (ARP or NDP replies and announcements) in the last minute; more than 1 is a conflict.',
    labelNames: ['vip'],
    registers,
    collect() {
      this.reset();
      for (const v of agent.arp?.view(Date.now()) ?? []) this.set({ vip: v.vip }, v.owners.length);
    },
  });

  new Gauge({
    name: 'asymroute_vip_arp_probe_answers',
    help: 'MACs that answered the last active probe of each VIP (--arp-probe: arping or ndisc6); 0 means nobody answered, more than 1 is a conflict. Absent when the probe failed or never ran.',
    labelNames: ['vip'],
    registers,
    collect() {
      this.reset();
      for (const p of agent.probes.values()) if (!p.error) this.set({ vip: p.vip }, p.answers.length);
    },
  });
  new Gauge({
    name: 'asymroute_vip_arp_probe_rtt_seconds',
    help: 'Fastest answer to the last active ARP probe of each IPv4 VIP (ndisc6, the IPv6 probe, measures none).',
    labelNames: ['vip'],
    registers,
    collect() {
      this.reset();
      for (const p of agent.probes.values()) {
        const ms = p.answers.map((a) => a.ms).filter((x): x is number => x !== null);
        if (ms.length > 0) this.set({ vip: p.vip }, Math.min(...ms) / 1000);
      }
    },
  });
  const probes: Counter<string> = new Counter({
    name: 'asymroute_vip_arp_probes_total',
    help: 'Active probes of each VIP (arping or ndisc6) by result: answered, unanswered, error.',
    labelNames: ['vip', 'result'],
    registers,
    collect() {
      for (const [k, n] of agent.probeCounts) {
        const [vip, result] = k.split('|') as [string, string];
        follow(probes, { vip, result }, n);
      }
    },
  });

  new Gauge({
    name: 'asymroute_bgp_session_up',
    help: 'BGP sessions on TCP port 179 by peer (router) address: 1 when established for two polls in a row, else 0. Peers from --bgp-peer, and any this node dials or is dialled by.',
    labelNames: ['peer', 'expected'],
    registers,
    collect() {
      this.reset();
      for (const p of agent.bgp?.view(Date.now()) ?? []) this.set({ peer: p.peer, expected: String(p.expected) }, p.up ? 1 : 0);
    },
  });
  const bgpResets: Counter<string> = new Counter({
    name: 'asymroute_bgp_peer_resets_total',
    help: 'TCP resets received from a BGP peer on port 179 (a router that does not accept this node resets right after the handshake).',
    labelNames: ['peer'],
    registers,
    collect() {
      for (const [peer, n] of agent.bgp?.resets ?? []) follow(bgpResets, { peer }, n);
    },
  });

  new Gauge({
    name: 'asymroute_vip_info',
    help: 'The VIPs this agent checks, with the interface their requests arrive on; always 1.',
    labelNames: ['vip', 'ingress', 'source'],
    registers,
    collect() {
      this.reset();
      for (const v of agent.result?.vips ?? []) this.set({ vip: v.ip, ingress: v.ingress ?? 'unknown', source: v.source }, 1);
    },
  });

  new Gauge({
    name: 'asymroute_vip_announced',
    help: 'MetalLB L2 (ServiceL2Status): 1 when this node announces the VIP, 0 when another node does; absent when unknown.',
    labelNames: ['vip', 'mode'],
    registers,
    collect() {
      this.reset();
      for (const v of agent.result?.vips ?? []) if (v.announcement) this.set({ vip: v.ip, mode: 'l2' }, v.announcement.here ? 1 : 0);
    },
  });

  new Gauge({
    name: 'asymroute_kubernetes_up',
    help: '1 while the Service watch is connected, 0 when the API is unreachable; absent when Kubernetes is not in use.',
    registers,
    collect() {
      this.reset();
      if (agent.kubernetes) this.set(agent.kubernetes.connected ? 1 : 0);
    },
  });

  new Gauge({
    name: 'asymroute_capture_up',
    help: '1 while the tcpdump child runs and delivers LINUX_SLL2, else 0 (also while no capture is wanted: --capture=false or no VIP yet).',
    registers,
    collect() {
      this.set(agent.capture?.healthy ? 1 : 0);
    },
  });

  new Gauge({
    name: 'asymroute_capture_sampled_flows_ratio',
    help: 'Share of flows whose TCP and UDP data packets the capture filter keeps (1 / 2^captureSampleBits); TCP SYN, FIN and RST are kept for every flow. Packet counters count what is kept.',
    registers,
    collect() {
      this.set(agent.captureSampling.flowsWithData);
    },
  });

  // Label-less counters that follow a cumulative value of the agent.
  const following = (name: string, help: string, read: () => number) => {
    const c: Counter<string> = new Counter({
      name,
      help,
      registers,
      collect() {
        follow(c, {}, read());
      },
    });
  };
  following('asymroute_capture_packets_total', 'Packets read from the capture.', () => agent.captureStats.packets);
  following('asymroute_capture_kernel_drops_total', 'Packets the kernel dropped before the capture read them (tcpdump statistics, summed across restarts).', () => agent.captureStats.drops);
  following('asymroute_capture_restarts_total', 'Restarts of the tcpdump child.', () => agent.capture?.restarts ?? 0);
  following('asymroute_kernel_rp_filter_drops_total', "The kernel's TcpExt IPReversePathFilter counter (packets dropped by rp_filter), as of the last check.", () => agent.snapshot?.ipReversePathFilter ?? 0);

  const hist = new Histogram({
    name: 'asymroute_check_duration_seconds',
    help: 'Duration of the static reply-path check.',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
    collect() {
      for (const d of agent.durations.splice(0)) hist.observe(d);
    },
  });

  const checks = new Counter({
    name: 'asymroute_checks_total',
    help: 'Static checks run, by result.',
    labelNames: ['result'],
    registers,
    collect() {
      follow(checks, { result: 'ok' }, agent.status.count - agent.status.failures);
      follow(checks, { result: 'error' }, agent.status.failures);
    },
  });

  new Gauge({
    name: 'asymroute_check_last_run_timestamp_seconds',
    help: 'When the last static check finished (Unix time).',
    registers,
    collect() {
      if (agent.status.at) this.set(Date.parse(agent.status.at) / 1000);
    },
  });
}
