// The chart's alerts, as rendered: `promtool check rules`, then `promtool test rules` with a firing and a
// non-firing case for every alert, on series labelled the way the chart's ServiceMonitor labels them (job = the
// Service's name, node from the pod). The metric names are checked against a live scrape of the agent.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { stringify } from 'yaml';
import { describe, expect, it, onTestFinished } from 'vitest';
import { BIN, ROOT } from '../helpers/cli.js';
import { renderChart } from '../helpers/helm.js';

interface Rule {
  alert: string;
  expr: string;
  for: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

const J = 'job="asymroute"';
const A = `${J},instance="10.0.0.1:9472",node="node-a"`;
const B = `${J},instance="10.0.0.2:9472",node="node-b"`;
const VIP = 'vip="192.168.1.240"';

interface Case {
  name: string;
  series: Array<[string, string]>;
  at: string;
  alert: string;
  /** labels of the expected alerts (severity is added from the rule); empty: must not fire */
  fires: Array<Record<string, string>>;
  /** $value of the firing alert, for annotations that print it */
  value?: number;
}

const info = (who: string, ingress = 'eth1') =>
  [`asymroute_vip_info{${who},${VIP},ingress="${ingress}",source="kubernetes"}`, '1x60'] as [string, string];
const at = (who: string) => ({ node: who === A ? 'node-a' : 'node-b', instance: who === A ? '10.0.0.1:9472' : '10.0.0.2:9472' });

const CASES: Case[] = [
  {
    name: 'asymmetric reply path for 5m',
    alert: 'AsymrouteReplyPathAsymmetric',
    at: '5m',
    series: [
      [`asymroute_reply_path_asymmetric{${A},${VIP},ingress="eth1",egress="eth0"}`, '1x10'],
      [`asymroute_reply_path_asymmetric{${B},${VIP},ingress="eth1",egress="eth1"}`, '0x10'],
    ],
    fires: [{ ...at(A), vip: '192.168.1.240', ingress: 'eth1', egress: 'eth0' }],
  },
  {
    name: 'asymmetric reply path shorter than its for',
    alert: 'AsymrouteReplyPathAsymmetric',
    at: '5m',
    series: [[`asymroute_reply_path_asymmetric{${A},${VIP},ingress="eth1",egress="eth0"}`, '0 0 0 0 1 1']],
    fires: [],
  },
  {
    name: 'reply path unknown for 15m',
    alert: 'AsymrouteReplyPathUnknown',
    at: '20m',
    series: [
      [`asymroute_vip_findings{${A},${VIP},type="reply-path-unknown",severity="warning"}`, '1x25'],
      [`asymroute_vip_findings{${B},${VIP},type="asymmetric-reply-path",severity="critical"}`, '1x25'],
    ],
    fires: [{ ...at(A), vip: '192.168.1.240' }],
  },
  {
    name: 'reply path known',
    alert: 'AsymrouteReplyPathUnknown',
    at: '20m',
    series: [[`asymroute_vip_findings{${A},${VIP},type="reply-path-unknown",severity="warning"}`, '1 1 1 0x22']],
    fires: [],
  },
  {
    name: 'asymmetric flows observed',
    alert: 'AsymrouteAsymmetricFlowsObserved',
    at: '3m',
    value: 3,
    series: [[`asymroute_asymmetric_flows{${A},${VIP},ingress="eth1",egress="eth0"}`, '3x5']],
    fires: [{ ...at(A), vip: '192.168.1.240', ingress: 'eth1', egress: 'eth0' }],
  },
  {
    name: 'no asymmetric flows',
    alert: 'AsymrouteAsymmetricFlowsObserved',
    at: '3m',
    series: [[`asymroute_flows{${A},${VIP},outcome="symmetric"}`, '7x5']],
    fires: [],
  },
  {
    name: 'SYNs unanswered',
    alert: 'AsymrouteSynUnanswered',
    at: '10m',
    value: 4,
    series: [[`asymroute_flows{${A},${VIP},outcome="unanswered"}`, '4x12'], info(A)],
    fires: [{ ...at(A), vip: '192.168.1.240', ingress: 'eth1' }],
  },
  {
    name: 'SYNs answered',
    alert: 'AsymrouteSynUnanswered',
    at: '10m',
    series: [
      [`asymroute_flows{${A},${VIP},outcome="unanswered"}`, '0x12'],
      [`asymroute_flows{${A},${VIP},outcome="symmetric"}`, '9x12'],
      info(A),
    ],
    fires: [],
  },
  {
    name: 'node-b starved while node-a serves the VIP',
    alert: 'AsymrouteVipTrafficStarvation',
    at: '50m',
    series: [
      info(A),
      info(B),
      [`asymroute_vip_ingress_packets_total{${A},${VIP},interface="eth1"}`, '0+100x60'],
      [`asymroute_capture_up{${A}}`, '1x60'],
      [`asymroute_capture_up{${B}}`, '1x60'],
    ],
    fires: [{ ...at(B), vip: '192.168.1.240' }],
  },
  {
    name: 'both nodes receive traffic',
    alert: 'AsymrouteVipTrafficStarvation',
    at: '50m',
    series: [
      info(A),
      info(B),
      [`asymroute_vip_ingress_packets_total{${A},${VIP},interface="eth1"}`, '0+100x60'],
      [`asymroute_vip_ingress_packets_total{${B},${VIP},interface="eth1"}`, '0+5x60'],
      [`asymroute_capture_up{${A}}`, '1x60'],
      [`asymroute_capture_up{${B}}`, '1x60'],
    ],
    fires: [],
  },
  {
    name: 'MetalLB L2: the non-announcing node is not starved',
    alert: 'AsymrouteVipTrafficStarvation',
    at: '50m',
    series: [
      info(A),
      info(B),
      [`asymroute_vip_announced{${A},${VIP},mode="l2"}`, '1x60'],
      [`asymroute_vip_announced{${B},${VIP},mode="l2"}`, '0x60'],
      [`asymroute_vip_ingress_packets_total{${A},${VIP},interface="eth1"}`, '0+100x60'],
      [`asymroute_capture_up{${A}}`, '1x60'],
      [`asymroute_capture_up{${B}}`, '1x60'],
    ],
    fires: [],
  },
  {
    name: 'kube-vip: the node that does not hold the VIP is not starved',
    alert: 'AsymrouteVipTrafficStarvation',
    at: '50m',
    series: [
      info(A),
      info(B),
      [`asymroute_vip_announced{${A},${VIP},mode="kube-vip"}`, '1x60'],
      [`asymroute_vip_announced{${B},${VIP},mode="kube-vip"}`, '0x60'],
      [`asymroute_vip_ingress_packets_total{${A},${VIP},interface="eth1"}`, '0+100x60'],
      [`asymroute_capture_up{${A}}`, '1x60'],
      [`asymroute_capture_up{${B}}`, '1x60'],
    ],
    fires: [],
  },
  {
    name: 'no node receives traffic (quiet VIP, not starvation)',
    alert: 'AsymrouteVipTrafficStarvation',
    at: '50m',
    series: [info(A), info(B), [`asymroute_capture_up{${A}}`, '1x60'], [`asymroute_capture_up{${B}}`, '1x60']],
    fires: [],
  },
  {
    name: 'VIP ARP unanswered',
    alert: 'AsymrouteVipArpUnanswered',
    at: '10m',
    series: [[`asymroute_vip_findings{${A},${VIP},type="vip-arp-unanswered",severity="critical"}`, '1x12'], info(A)],
    fires: [{ ...at(A), vip: '192.168.1.240', ingress: 'eth1' }],
  },
  {
    name: 'VIP ARP answered',
    alert: 'AsymrouteVipArpUnanswered',
    at: '10m',
    series: [[`asymroute_vip_findings{${A},${VIP},type="asymmetric-reply-path",severity="critical"}`, '1x12'], info(A)],
    fires: [],
  },
  {
    name: 'two MACs claim the VIP',
    alert: 'AsymrouteVipArpConflict',
    at: '10m',
    value: 2,
    series: [[`asymroute_vip_arp_owners{${A},${VIP}}`, '2x12'], info(A)],
    fires: [{ ...at(A), vip: '192.168.1.240', ingress: 'eth1' }],
  },
  {
    name: 'one MAC owns the VIP',
    alert: 'AsymrouteVipArpConflict',
    at: '10m',
    series: [[`asymroute_vip_arp_owners{${A},${VIP}}`, '1x12'], info(A)],
    fires: [],
  },
  {
    name: 'BGP session with the router down',
    alert: 'AsymrouteBgpSessionDown',
    at: '10m',
    series: [
      [`asymroute_bgp_session_up{${A},peer="192.168.1.254",expected="true"}`, '0x12'],
      [`asymroute_bgp_session_up{${B},peer="192.168.1.254",expected="true"}`, '1x12'],
    ],
    fires: [{ ...at(A), peer: '192.168.1.254' }],
  },
  {
    name: 'BGP down to a peer nobody configured',
    alert: 'AsymrouteBgpSessionDown',
    at: '10m',
    series: [[`asymroute_bgp_session_up{${A},peer="192.168.1.99",expected="false"}`, '0x12']],
    fires: [],
  },
  {
    name: 'strict rp_filter dropping',
    alert: 'AsymrouteRpFilterDroppingVipTraffic',
    at: '10m',
    series: [
      [`asymroute_vip_findings{${A},${VIP},type="rp-filter-drop",severity="critical"}`, '1x12'],
      info(A),
      [`asymroute_kernel_rp_filter_drops_total{${A}}`, '0+3x12'],
    ],
    fires: [{ ...at(A), vip: '192.168.1.240', ingress: 'eth1' }],
  },
  {
    name: 'rp_filter finding but no drops counted',
    alert: 'AsymrouteRpFilterDroppingVipTraffic',
    at: '10m',
    series: [
      [`asymroute_vip_findings{${A},${VIP},type="rp-filter-drop",severity="critical"}`, '1x12'],
      info(A),
      [`asymroute_kernel_rp_filter_drops_total{${A}}`, '5x12'],
    ],
    fires: [],
  },
  {
    name: 'capture down on a node with VIPs',
    alert: 'AsymrouteCaptureDown',
    at: '10m',
    series: [[`asymroute_capture_up{${A}}`, '0x12'], info(A)],
    fires: [at(A)],
  },
  {
    name: 'capture down on a node without VIPs',
    alert: 'AsymrouteCaptureDown',
    at: '10m',
    series: [[`asymroute_capture_up{${A}}`, '0x12']],
    fires: [],
  },
  {
    name: 'capture dropping packets',
    alert: 'AsymrouteCaptureDroppingPackets',
    at: '20m',
    value: 100,
    series: [[`asymroute_capture_kernel_drops_total{${A}}`, '0+10x25']],
    fires: [at(A)],
  },
  {
    name: 'capture not dropping',
    alert: 'AsymrouteCaptureDroppingPackets',
    at: '20m',
    series: [[`asymroute_capture_kernel_drops_total{${A}}`, '7x25']],
    fires: [],
  },
  {
    name: 'every check failing for 15m',
    alert: 'AsymrouteCheckFailing',
    at: '25m',
    series: [
      [`asymroute_checks_total{${A},result="error"}`, '0+1x30'],
      [`asymroute_checks_total{${A},result="ok"}`, '3x30'],
      [`asymroute_checks_total{${B},result="error"}`, '0x30'],
      [`asymroute_checks_total{${B},result="ok"}`, '0+1x30'],
    ],
    fires: [at(A)],
  },
  {
    name: 'checks failing now and then but succeeding too',
    alert: 'AsymrouteCheckFailing',
    at: '25m',
    series: [
      [`asymroute_checks_total{${A},result="error"}`, '0+1x30'],
      [`asymroute_checks_total{${A},result="ok"}`, '0+1x30'],
    ],
    fires: [],
  },
  {
    name: 'Kubernetes API unreachable',
    alert: 'AsymrouteKubernetesUnreachable',
    at: '15m',
    series: [
      [`asymroute_kubernetes_up{${A}}`, '0x20'],
      [`asymroute_kubernetes_up{${B}}`, '1x20'],
    ],
    fires: [at(A)],
  },
  {
    name: 'Kubernetes API reachable',
    alert: 'AsymrouteKubernetesUnreachable',
    at: '15m',
    series: [[`asymroute_kubernetes_up{${A}}`, '1x20']],
    fires: [],
  },
  {
    name: 'VIPs left out for 15m',
    alert: 'AsymrouteVipsNotWatched',
    at: '20m',
    series: [
      [`asymroute_vips_not_watched{${A},reason="outside-vip-cidrs"}`, '500x25'],
      [`asymroute_vips_not_watched{${A},reason="over-max-vips"}`, '0x25'],
      [`asymroute_vips_not_watched{${B},reason="outside-vip-cidrs"}`, '0x25'],
    ],
    fires: [{ ...at(A), reason: 'outside-vip-cidrs' }],
    value: 500,
  },
  {
    name: 'every VIP watched, or left out only briefly',
    alert: 'AsymrouteVipsNotWatched',
    at: '20m',
    series: [
      [`asymroute_vips_not_watched{${A},reason="over-max-vips"}`, '0x25'],
      [`asymroute_vips_not_watched{${B},reason="over-max-vips"}`, '0x15 3x10'],
    ],
    fires: [],
  },
  {
    name: 'agent down',
    alert: 'AsymrouteAgentDown',
    at: '10m',
    series: [
      [`up{${A}}`, '0x12'],
      [`up{${B}}`, '1x12'],
    ],
    fires: [{ ...at(A), job: 'asymroute' }],
  },
  { name: 'agents up', alert: 'AsymrouteAgentDown', at: '10m', series: [[`up{${A}}`, '1x12']], fires: [] },
  {
    name: 'no agent target at all',
    alert: 'AsymrouteAgentAbsent',
    at: '15m',
    series: [['up{job="node-exporter",instance="10.0.0.1:9100"}', '1x20']],
    fires: [{ job: 'asymroute' }],
  },
  { name: 'agent targets present', alert: 'AsymrouteAgentAbsent', at: '15m', series: [[`up{${A}}`, '1x20']], fires: [] },
  {
    name: 'DaemonSet pods unavailable',
    alert: 'AsymrouteAgentMissingOnNodes',
    at: '15m',
    value: 2,
    series: [['kube_daemonset_status_number_unavailable{job="kube-state-metrics",namespace="netcheck",daemonset="asymroute"}', '2x20']],
    fires: [{ namespace: 'netcheck', daemonset: 'asymroute' }],
  },
  {
    name: 'DaemonSet complete',
    alert: 'AsymrouteAgentMissingOnNodes',
    at: '15m',
    series: [['kube_daemonset_status_number_unavailable{job="kube-state-metrics",namespace="netcheck",daemonset="asymroute"}', '0x20']],
    fires: [],
  },
];

// Prometheus expands $labels and $value in annotations; a label the alert does not carry expands to nothing.
function expand(text: string, labels: Record<string, string>, value: number | undefined): string {
  return text
    .replace(/\{\{ \$labels\.(\w+) \}\}/g, (_m, k: string) => {
      expect(labels, `annotation uses $labels.${k}, which the alert does not carry`).toHaveProperty(k);
      return labels[k]!;
    })
    .replace(/\{\{ \$value \}\}/g, () => {
      expect(value, 'annotation prints $value: the case must say it').toBeDefined();
      return String(value);
    });
}

function renderedRules(): Rule[] {
  const r = renderChart(
    { prometheusRule: { enabled: true }, serviceMonitor: { enabled: true } },
    { release: 'asymroute', namespace: 'netcheck' },
  );
  const pr = r.objects.find((o) => o.kind === 'PrometheusRule') as unknown as { spec: { groups: Array<{ name: string; rules: Rule[] }> } };
  return pr.spec.groups[0]!.rules;
}

describe('alerts', () => {
  const rules = renderedRules();

  it('pass promtool check rules and promtool test rules, each alert firing and not firing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'asymroute-alerts-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'rules.yaml'), stringify({ groups: [{ name: 'asymroute', rules }] }));
    const check = spawnSync('promtool', ['check', 'rules', join(dir, 'rules.yaml')], { encoding: 'utf8' });
    expect(check.status, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toMatch(new RegExp(`SUCCESS: ${rules.length} rules found`));

    for (const r of rules) {
      expect(
        CASES.filter((c) => c.alert === r.alert && c.fires.length > 0),
        `${r.alert}: a firing case`,
      ).not.toHaveLength(0);
      expect(
        CASES.filter((c) => c.alert === r.alert && c.fires.length === 0),
        `${r.alert}: a non-firing case`,
      ).not.toHaveLength(0);
    }
    const tests = CASES.map((c) => {
      const rule = rules.find((r) => r.alert === c.alert);
      expect(rule, c.alert).toBeDefined();
      return {
        name: c.name,
        interval: '1m',
        input_series: c.series.map(([series, values]) => ({ series, values })),
        alert_rule_test: [
          {
            eval_time: c.at,
            alertname: c.alert,
            exp_alerts: c.fires.map((labels) => {
              const all = { ...labels, ...rule!.labels };
              return {
                exp_labels: all,
                exp_annotations: Object.fromEntries(Object.entries(rule!.annotations).map(([k, v]) => [k, expand(v, all, c.value)])),
              };
            }),
          },
        ],
      };
    });
    writeFileSync(join(dir, 'tests.yaml'), stringify({ rule_files: ['rules.yaml'], evaluation_interval: '1m', tests }));
    const run = spawnSync('promtool', ['test', 'rules', join(dir, 'tests.yaml')], { encoding: 'utf8' });
    expect(run.status, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toMatch(/SUCCESS/);
  });

  it('name the node, the VIP and the interfaces', () => {
    for (const r of rules.filter((x) => !/Agent|Capture|Bgp|CheckFailing|KubernetesUnreachable|VipsNotWatched/.test(x.alert))) {
      const text = r.annotations['summary']! + r.annotations['description']!;
      expect(text, r.alert).toMatch(/\$labels\.node/);
      expect(text, r.alert).toMatch(/\$labels\.vip/);
      if (r.alert !== 'AsymrouteVipTrafficStarvation' && r.alert !== 'AsymrouteReplyPathUnknown')
        expect(text, r.alert).toMatch(/\$labels\.(ingress|egress)/);
    }
  });

  it('name the node and the reason for VIPs left out', () => {
    const r = rules.find((x) => x.alert === 'AsymrouteVipsNotWatched')!;
    expect(r.annotations['summary']).toMatch(/\$labels\.node.*\$labels\.reason/);
  });

  it('name the node and the peer for BGP', () => {
    const r = rules.find((x) => x.alert === 'AsymrouteBgpSessionDown')!;
    expect(r.annotations['summary']).toMatch(/\$labels\.node.*\$labels\.peer/);
  });

  it('use only metrics the agent exposes', { timeout: 30_000 }, async () => {
    const agent = execa(
      process.execPath,
      [BIN, 'serve', '--capture=false', '--kubernetes', 'off', '--listen', '127.0.0.1', '--port', '0', '--vip', '198.51.100.10'],
      { reject: false, stdin: 'ignore', buffer: false, env: { ASYMROUTE_CONFIG: '' } },
    );
    try {
      const port = await new Promise<number>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('serve did not start')), 15_000);
        agent.stdout?.on('data', (d: Buffer) => {
          const m = /"event":"listening".*"port":(\d+)/.exec(String(d));
          if (m) {
            clearTimeout(t);
            resolve(Number(m[1]));
          }
        });
      });
      const exposed = new Set(
        [...(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]!),
      );
      // Registered only while Kubernetes is in use (this agent runs without it): taken from the metrics page, which
      // is generated from the Kubernetes monitor's own registrations (test/docs/metrics-doc.test.ts keeps it so).
      const kubernetesOnly = [
        ...readFileSync(join(ROOT, 'docs/metrics.md'), 'utf8').matchAll(/^\| `(\w+)` \|[^\n]*\| `agent\/kubernetes\/` \|/gm),
      ].map((m) => m[1]!);
      expect(kubernetesOnly).toContain('asymroute_kubernetes_up');
      expect(exposed).not.toContain('asymroute_kubernetes_up');
      const used = new Set(rules.flatMap((r) => [...r.expr.matchAll(/\b(asymroute_\w+)\{/g)].map((m) => m[1]!)));
      expect(used.size).toBeGreaterThan(8);
      for (const m of used) expect([...exposed, ...kubernetesOnly], m).toContain(m);
    } finally {
      agent.kill('SIGTERM');
      await agent;
    }
  });
});
