// The values that make the chart fit the ecosystem (issue 14, item 4): usable as a subchart (global, enabled), an
// image registry, extra args, security context overrides, a PodMonitor, scrape relabelings, a startup probe and extra
// alerts. Each is rendered and every object validated against the Kubernetes / Prometheus Operator schemas.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ChartError, renderChart } from '../helpers/helm.js';
import { renderValidated, type Any } from '../helpers/chart-models.js';

function render(values: Record<string, unknown> = {}, release = 'asymroute') {
  const r = renderValidated(values, release);
  const container = (): Any => r.one<Any>('DaemonSet')['spec'].template.spec.containers[0];
  return { ...r, container };
}

const HARDENED = {
  runAsUser: 0,
  runAsNonRoot: false,
  privileged: false,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'], add: ['NET_ADMIN', 'NET_RAW', 'SETUID', 'SETGID', 'KILL'] },
};

describe('chart parity values', () => {
  it('renders as a subchart: Helm passes global and enabled, and the schema accepts them', () => {
    const plain = render().objects;
    const sub = render({ global: { imageRegistry: 'mirror.example', anything: { nested: [1] } }, enabled: true });
    expect(sub.objects).toEqual(plain);
    expect(() => renderChart({ enabled: 'yes' })).toThrow(/\/enabled: must be boolean/);
    expect(() => renderChart({ global: 'x' })).toThrow(/\/global: must be object/);
  });

  it('keeps the default DaemonSet as it was: image, args, both security contexts, no startup probe', () => {
    const r = render();
    const ds = r.one('DaemonSet');
    expect(ds['spec'].template.spec.securityContext).toEqual({ seccompProfile: { type: 'RuntimeDefault' } });
    const c = r.container();
    expect(c['image']).toBe('ghcr.io/asymroute/asymroute:0.1.0');
    expect(c['args']).toEqual(['serve', '--config', '/etc/asymroute/config.yaml']);
    expect(c['securityContext']).toEqual(HARDENED);
    expect(c['startupProbe']).toBeUndefined();
    expect(r.objects.map((o) => o.kind)).not.toContain('PodMonitor');
  });

  it('prefixes image.registry to the repository, with a tag or a digest', () => {
    expect(render({ image: { registry: 'mirror.example' } }).container()['image']).toBe('mirror.example/asymroute/asymroute:0.1.0');
    expect(render({ image: { registry: '', repository: 'asymroute' } }).container()['image']).toBe('asymroute:0.1.0');
    const digest = `sha256:${'b'.repeat(64)}`;
    expect(render({ image: { registry: 'registry.example:5000/', repository: 'net/asymroute', digest } }).container()['image']).toBe(
      `registry.example:5000/net/asymroute@${digest}`,
    );
    expect(() => renderChart({ image: { registry: 'a b' } })).toThrow(/\/image\/registry: must match pattern/);
  });

  it("appends extraArgs to the container's args, each kept as one string whatever it contains", () => {
    const c = render({
      extraArgs: ['--interval', '10', '--vip-cidrs=10.0.0.0/8,192.168.0.0/16', 'a "quoted" \\ value: [x], {y} é'],
    }).container();
    expect(c['args']).toEqual([
      'serve',
      '--config',
      '/etc/asymroute/config.yaml',
      '--interval',
      '10',
      '--vip-cidrs=10.0.0.0/8,192.168.0.0/16',
      'a "quoted" \\ value: [x], {y} é',
    ]);
    expect(() => renderChart({ extraArgs: [10] })).toThrow(/\/extraArgs\/0: must be string/);
  });

  it('merges containerSecurityContext over the hardened defaults, keeping the computed capabilities unless add is given', () => {
    const c = render({
      containerSecurityContext: {
        readOnlyRootFilesystem: false,
        runAsUser: 1,
        seLinuxOptions: { type: 'spc_t' },
        capabilities: { drop: ['NET_BIND_SERVICE'] },
      },
    }).container();
    expect(c['securityContext']).toEqual({
      ...HARDENED,
      readOnlyRootFilesystem: false,
      runAsUser: 1,
      seLinuxOptions: { type: 'spc_t' },
      capabilities: { drop: ['NET_BIND_SERVICE'], add: HARDENED.capabilities.add },
    });
    const noCapture = render({ config: { capture: false }, containerSecurityContext: { privileged: false } }).container();
    expect(noCapture['securityContext'].capabilities).toEqual({ drop: ['ALL'], add: ['NET_ADMIN'] });
    const own = render({ containerSecurityContext: { capabilities: { add: ['NET_ADMIN', 'NET_RAW'] } } }).container();
    expect(own['securityContext'].capabilities).toEqual({ drop: ['ALL'], add: ['NET_ADMIN', 'NET_RAW'] });
  });

  it('merges podSecurityContext with the RuntimeDefault seccomp profile', () => {
    const pod = render({ podSecurityContext: { fsGroup: 2000, supplementalGroups: [3000] } }).one('DaemonSet')['spec'].template.spec;
    expect(pod.securityContext).toEqual({ seccompProfile: { type: 'RuntimeDefault' }, fsGroup: 2000, supplementalGroups: [3000] });
  });

  it('adds a startup probe on the probe port with its own timing, following TLS and the listen address', () => {
    const c = render({ startupProbe: { enabled: true, path: '/readyz', failureThreshold: 30, periodSeconds: 10 } }).container();
    expect(c['startupProbe']).toEqual({
      httpGet: { path: '/readyz', port: 'probes' },
      periodSeconds: 10,
      timeoutSeconds: 5,
      failureThreshold: 30,
    });
    const local = render({ startupProbe: { enabled: true }, config: { listen: '127.0.0.1' } }).container();
    expect(local['startupProbe'].httpGet).toEqual({ path: '/healthz', port: 'probes', host: '127.0.0.1' });
    const onApiPort = render({ startupProbe: { enabled: true }, config: { probePort: 0 } }).container();
    expect(onApiPort['startupProbe'].httpGet).toEqual({ path: '/healthz', port: 'http', scheme: 'HTTPS' });
    expect(() => renderChart({ startupProbe: { enabled: true, path: '/metrics' } })).toThrow(/\/startupProbe\/path/);
  });

  it("appends the ServiceMonitor's relabelings after the node relabeling, and its metricRelabelings", () => {
    const relabelings = [{ sourceLabels: ['__meta_kubernetes_pod_label_zone'], targetLabel: 'zone', action: 'replace' }];
    const metricRelabelings = [{ sourceLabels: ['__name__'], regex: 'asymroute_capture_.*', action: 'drop' }];
    const ep = render({ serviceMonitor: { enabled: true, relabelings, metricRelabelings } }).one('ServiceMonitor')['spec'].endpoints[0];
    expect(ep.relabelings).toEqual([
      { sourceLabels: ['__meta_kubernetes_pod_node_name'], targetLabel: 'node', action: 'replace' },
      ...relabelings,
    ]);
    expect(ep.metricRelabelings).toEqual(metricRelabelings);
    const plain = render({ serviceMonitor: { enabled: true } }).one('ServiceMonitor')['spec'].endpoints[0];
    expect(plain.metricRelabelings).toBeUndefined();
    expect(plain.relabelings).toHaveLength(1);
  });

  it("renders a PodMonitor with the ServiceMonitor's HTTPS and token settings, the node and the job the alerts select", () => {
    const authorization = { type: 'Bearer', credentials: { name: 'scrape-token', key: 'token' } };
    const r = render(
      {
        podMonitor: {
          enabled: true,
          namespace: 'monitoring',
          labels: { release: 'kps' },
          interval: '15s',
          scrapeTimeout: '5s',
          relabelings: [{ targetLabel: 'cluster', replacement: 'lab' }],
          metricRelabelings: [{ sourceLabels: ['__name__'], regex: 'go_.*', action: 'drop' }],
        },
        serviceMonitor: { authorization },
        tls: { source: 'secret', secretName: 'node-tls' },
      },
      'netcheck',
    );
    const pm = r.one('PodMonitor');
    expect(pm['metadata']).toMatchObject({ name: 'netcheck-asymroute', namespace: 'monitoring', labels: { release: 'kps' } });
    expect(pm['spec'].selector.matchLabels).toEqual(r.one('DaemonSet')['spec'].selector.matchLabels);
    expect(pm['spec'].namespaceSelector.matchNames).toEqual(['netcheck']);
    expect(pm['spec'].podMetricsEndpoints).toEqual([
      {
        port: 'http',
        path: '/metrics',
        interval: '15s',
        scrapeTimeout: '5s',
        scheme: 'https',
        tlsConfig: { ca: { secret: { name: 'node-tls', key: 'ca.crt' } }, serverName: 'netcheck-asymroute.netcheck.svc' },
        authorization,
        relabelings: [
          { sourceLabels: ['__meta_kubernetes_pod_node_name'], targetLabel: 'node', action: 'replace' },
          { targetLabel: 'job', replacement: 'netcheck-asymroute', action: 'replace' },
          { targetLabel: 'cluster', replacement: 'lab' },
        ],
        metricRelabelings: [{ sourceLabels: ['__name__'], regex: 'go_.*', action: 'drop' }],
      },
    ]);
    // The alerts' default selector is the job the PodMonitor's relabeling sets.
    const rule = render(
      { podMonitor: { enabled: true }, serviceMonitor: { authorization }, prometheusRule: { enabled: true } },
      'netcheck',
    ).one('PrometheusRule');
    expect(rule['spec'].groups[0].rules[0].expr).toContain('job="netcheck-asymroute"');
    const selfSigned = render({ podMonitor: { enabled: true }, serviceMonitor: { authorization } }).one('PodMonitor')['spec']
      .podMetricsEndpoints[0];
    expect(selfSigned).toMatchObject({ scheme: 'https', tlsConfig: { insecureSkipVerify: true }, authorization });
    const plain = render({ podMonitor: { enabled: true }, config: { auth: 'none', insecureNoAuth: true } }).one('PodMonitor')['spec']
      .podMetricsEndpoints[0];
    expect([plain.scheme, plain.tlsConfig, plain.authorization]).toEqual([undefined, undefined, undefined]);
    // A PodMonitor has no bearerTokenFile: with auth on it needs a Secret's token.
    expect(() => renderChart({ podMonitor: { enabled: true } })).toThrow(ChartError);
    expect(() => renderChart({ podMonitor: { enabled: true } })).toThrow(/podMonitor needs serviceMonitor.authorization/);
  });

  it('appends prometheusRule.extraAlerts to the group, and promtool accepts the rendered rules', () => {
    const extraAlerts = [
      {
        alert: 'AsymrouteTooManyFlows',
        expr: 'sum by (node) (asymroute_flows) > 100000',
        for: '10m',
        labels: { severity: 'info' },
        annotations: { summary: 'Node {{ $labels.node }} tracks {{ $value }} flows' },
      },
      { record: 'node:asymroute_flows:sum', expr: 'sum by (node) (asymroute_flows)' },
    ];
    const rules = render({ prometheusRule: { enabled: true, extraAlerts } }).one('PrometheusRule')['spec'].groups[0].rules as Any[];
    const base = render({ prometheusRule: { enabled: true } }).one('PrometheusRule')['spec'].groups[0].rules as Any[];
    expect(rules).toEqual([...base, ...extraAlerts]);
    const dir = mkdtempSync(join(tmpdir(), 'asymroute-extra-alerts-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'rules.yaml'), stringify({ groups: [{ name: 'asymroute', rules }] }));
    const check = spawnSync('promtool', ['check', 'rules', join(dir, 'rules.yaml')], { encoding: 'utf8' });
    expect(check.status, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toContain(`SUCCESS: ${rules.length} rules found`);
    // promtool fails on a broken extra rule: the check can fail.
    writeFileSync(
      join(dir, 'bad.yaml'),
      stringify({ groups: [{ name: 'asymroute', rules: [...rules, { alert: 'Bad', expr: 'sum by (' }] }] }),
    );
    expect(spawnSync('promtool', ['check', 'rules', join(dir, 'bad.yaml')], { encoding: 'utf8' }).status).not.toBe(0);
    expect(() => renderChart({ prometheusRule: { enabled: true, extraAlerts: [{ alert: 'NoExpr' }] } })).toThrow(
      /extraAlerts\/0: must have required property 'expr'/,
    );
  });
});
