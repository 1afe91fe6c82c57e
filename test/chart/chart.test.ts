// The Helm chart, rendered with several value sets (helm template when helm is installed, else Go text/template +
// sprig v3 as Helm does) and every object validated against the Kubernetes schemas (kubernetes-models).

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it, onTestFinished } from 'vitest';
import { configJsonSchema } from '../../agent/config/json-schema.js';
import { resolveConfig } from '../../agent/config/load.js';
import { optionsFor } from '../../agent/config/schema.js';
import { CHART, ChartError, defaultValues, renderChart, renderer } from '../helpers/helm.js';
import { renderValidated, type Any } from '../helpers/chart-models.js';

const render = renderValidated;

describe(`chart (rendered with ${renderer()})`, () => {
  it('renders the defaults: a least-privilege DaemonSet on every node, with probes and the node name', () => {
    const r = render();
    expect(r.objects.map((o) => o.kind).sort()).toEqual([
      'ClusterRole',
      'ClusterRole',
      'ClusterRole',
      'ClusterRole',
      'ClusterRole',
      'ClusterRole',
      'ClusterRoleBinding',
      'ClusterRoleBinding',
      'ConfigMap',
      'DaemonSet',
      'Role',
      'Service',
      'ServiceAccount',
      'ServiceAccount',
    ]);
    const ds = r.one<Any>('DaemonSet');
    const pod = ds.spec.template.spec;
    expect(ds.metadata).toMatchObject({ name: 'asymroute', namespace: 'netcheck' });
    expect(pod).toMatchObject({
      hostNetwork: true,
      dnsPolicy: 'ClusterFirstWithHostNet',
      serviceAccountName: 'asymroute',
      priorityClassName: 'system-node-critical',
      tolerations: [{ operator: 'Exists' }],
    });
    expect(pod.securityContext).toEqual({ seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.containers).toHaveLength(1);
    const c = pod.containers[0];
    expect(c.image).toBe('ghcr.io/asymroute/asymroute:0.1.0');
    expect(c.args).toEqual(['serve', '--config', '/etc/asymroute/config.yaml']);
    expect(c.securityContext).toEqual({
      runAsUser: 0,
      runAsNonRoot: false,
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'], add: ['NET_ADMIN', 'NET_RAW', 'SETUID', 'SETGID', 'KILL'] },
    });
    expect(c.env).toContainEqual({ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } });
    expect(c.ports).toEqual([
      { name: 'http', containerPort: 9472, protocol: 'TCP' },
      { name: 'probes', containerPort: 9473, protocol: 'TCP' },
    ]);
    // The probes go to the probe listener (plain HTTP, /healthz and /readyz alone), not the API port behind its
    // scrapers; the agent gets the port from the config file.
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'probes' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'probes' });
    expect(parseYaml(r.one<Any>('ConfigMap').data['config.yaml']).probePort).toBe(9473);
    // Without a probe port, the probes go to the API port: auth auto resolves to kubernetes in the pod, so the agent
    // serves HTTPS on 0.0.0.0 (its self-signed certificate).
    const noProbePort = render({ config: { probePort: 0 } }).one<Any>('DaemonSet').spec.template.spec.containers[0];
    expect(noProbePort.ports).toEqual([{ name: 'http', containerPort: 9472, protocol: 'TCP' }]);
    expect(noProbePort.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http', scheme: 'HTTPS' });
    expect(noProbePort.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http', scheme: 'HTTPS' });
    expect(c.resources.limits.memory).toBe('320Mi');
    expect(c.volumeMounts).toContainEqual({ name: 'config', mountPath: '/etc/asymroute', readOnly: true });
    expect(ds.spec.selector.matchLabels).toEqual(ds.spec.template.metadata.labels);
    expect(pod.volumes.find((v: Any) => v.name === 'config').configMap.name).toBe(r.one('ConfigMap').metadata.name);
    const svc = r.one<Any>('Service');
    expect(svc.spec.clusterIP).toBe('None');
    expect(svc.spec.selector).toEqual(ds.spec.selector.matchLabels);
    expect(svc.spec.ports).toEqual([{ name: 'http', port: 9472, targetPort: 'http', protocol: 'TCP' }]);
  });

  it('grants only what the agent uses: list/watch Services, EndpointSlices, ServiceL2Status, ServiceBGPStatus, BGPPeers and Leases, get nodes, Events only when enabled', () => {
    const rulesOf = (v: Record<string, unknown>) => {
      const r = render(v);
      const role = r.byKind('ClusterRole').find((x) => x.metadata.name === 'asymroute') as Any | undefined;
      return role ? (role.rules as Any[]).map((x) => `${x.apiGroups.join(',')}|${x.resources.join(',')}|${x.verbs.join(',')}`) : null;
    };
    const metallb = [
      'metallb.io|servicel2statuses|list,watch',
      'metallb.io|servicebgpstatuses|list,watch',
      'metallb.io|bgppeers|list,watch',
      '|nodes|get',
    ];
    const leases = 'coordination.k8s.io|leases|list,watch';
    const reviews = ['authentication.k8s.io|tokenreviews|create', 'authorization.k8s.io|subjectaccessreviews|create'];
    expect(rulesOf({})).toEqual(['|services|list,watch', 'discovery.k8s.io|endpointslices|list,watch', ...metallb, leases, ...reviews]);
    expect(rulesOf({ config: { kubernetesEvents: true } })).toEqual([
      '|services|list,watch',
      'discovery.k8s.io|endpointslices|list,watch',
      ...metallb,
      leases,
      ...reviews,
      '|events|create',
    ]);
    expect(rulesOf({ config: { bgp: 'off' } })).toEqual([
      '|services|list,watch',
      'discovery.k8s.io|endpointslices|list,watch',
      'metallb.io|servicel2statuses|list,watch',
      leases,
      ...reviews,
    ]);
    expect(rulesOf({ rbac: { metallb: false } })).toEqual([
      '|services|list,watch',
      'discovery.k8s.io|endpointslices|list,watch',
      leases,
      ...reviews,
    ]);
    // kube-vip off: no Leases.
    expect(rulesOf({ config: { kubeVip: 'off' } })).toEqual([
      '|services|list,watch',
      'discovery.k8s.io|endpointslices|list,watch',
      ...metallb,
      ...reviews,
    ]);
    // Reviews only for auth kubernetes; no Kubernetes at all, no ClusterRole at all.
    expect(rulesOf({ config: { auth: 'none', insecureNoAuth: true } })).toEqual([
      '|services|list,watch',
      'discovery.k8s.io|endpointslices|list,watch',
      ...metallb,
      leases,
    ]);
    expect(rulesOf({ config: { kubernetes: 'off', listen: '127.0.0.1' } })).toBeNull();
    const r = render();
    const binding = r.byKind('ClusterRoleBinding').find((x) => x.metadata.name === 'asymroute') as Any;
    expect(binding.roleRef).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: 'asymroute',
    });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'asymroute', namespace: 'netcheck' }]);
    expect(r.byKind('ServiceAccount').map((x) => x.metadata.name)).toEqual(['asymroute-reader', 'asymroute']);
    expect(r.manifest).not.toMatch(/["']\*["']/);
  });

  it('renders a config file the agent itself accepts, with the values given', () => {
    const r = render({ config: { vips: ['192.168.1.240@eth1'], interval: 60, kubernetesEvents: true } });
    const text = r.one<Any>('ConfigMap').data['config.yaml'] as string;
    const dir = mkdtempSync(join(tmpdir(), 'asymroute-chartcfg-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const f = join(dir, 'config.yaml');
    writeFileSync(f, text);
    const cfg = resolveConfig('serve', ['--config', f], {});
    expect(cfg.configFile).toBe(f);
    expect(cfg.values).toMatchObject({
      vips: ['192.168.1.240@eth1'],
      interval: 60,
      kubernetesEvents: true,
      listen: '0.0.0.0',
      capture: true,
      port: 9472,
    });
    // every key set in the file is taken from it (a null means "not set")
    expect(Object.values(cfg.origin).filter((o) => o === 'file').length).toBe(
      Object.values(parseYaml(text) as object).filter((v) => v !== null).length,
    );
  });

  it('mirrors the agent config schema in values.schema.json and values.yaml', () => {
    const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as Any;
    const generated = configJsonSchema('serve');
    expect(schema.properties.config.properties, 'values.schema.json is out of date: npm run sync-chart-schema').toEqual(
      generated['properties'],
    );
    expect(schema.properties.config.additionalProperties).toBe(false);
    const values = defaultValues() as Any;
    const keys = optionsFor('serve')
      .filter((o) => o.key !== 'config')
      .map((o) => o.key);
    expect(Object.keys(values.config).sort()).toEqual([...keys].sort());
    // The agent's defaults, except the bind address (Prometheus must reach the node) and the probe port (the
    // kubelet's probes get a listener of their own).
    const differ = new Set(['config', 'listen', 'probePort']);
    for (const o of optionsFor('serve')) if (!differ.has(o.key)) expect(values.config[o.key], o.key).toEqual(o.default);
    expect(values.config.listen).toBe('0.0.0.0');
    expect(values.config.probePort).toBe(9473);
  });

  it.each([
    ['config.port not an integer', { config: { port: 'http' } }, /\/config\/port: must be integer/],
    ['config.port out of range', { config: { port: 70000 } }, /\/config\/port: must be <= 65535/],
    [
      'config.kubernetes not in its enum',
      { config: { kubernetes: 'maybe' } },
      /\/config\/kubernetes: must be equal to one of the allowed values/,
    ],
    ['an unknown config key', { config: { vipz: ['1.2.3.4'] } }, /\/config: must NOT have additional properties \(vipz\)/],
    ['a bad pull policy', { image: { pullPolicy: 'Sometimes' } }, /\/image\/pullPolicy: must be equal to one of the allowed values/],
    [
      'a bad alert severity',
      { prometheusRule: { alerts: { synUnanswered: { severity: 'page' } } } },
      /\/prometheusRule\/alerts\/synUnanswered\/severity/,
    ],
    [
      'a bad alert duration',
      { prometheusRule: { alerts: { agentDown: { for: 'soon' } } } },
      /\/prometheusRule\/alerts\/agentDown\/for: must match pattern/,
    ],
    ['a bad PromQL selector', { prometheusRule: { selector: 'job=asymroute' } }, /\/prometheusRule\/selector: must match pattern/],
  ])('refuses %s', (_n, values, message) => {
    expect(() => renderChart(values)).toThrow(ChartError);
    expect(() => renderChart(values)).toThrow(message);
  });

  it('adds only NET_ADMIN (to read the ruleset) without the capture, and none ever beyond the measured five', () => {
    const c = render({ config: { capture: false } }).one<Any>('DaemonSet').spec.template.spec.containers[0] as Any;
    expect(c.securityContext.capabilities).toEqual({ drop: ['ALL'], add: ['NET_ADMIN'] });
  });

  it('honours names, image digest, scheduling and a local-only listener', () => {
    const r = render(
      {
        fullnameOverride: 'netcheck-agent',
        image: { registry: '', repository: 'registry.example/asymroute', digest: `sha256:${'a'.repeat(64)}` },
        nodeSelector: { 'node-role.kubernetes.io/lb': '' },
        tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'lb', effect: 'NoSchedule' }],
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/os', operator: 'In', values: ['linux'] }] }],
            },
          },
        },
        priorityClassName: '',
        serviceAccount: { create: false, name: 'existing-sa' },
        config: { listen: '127.0.0.1', port: 19472 },
        podAnnotations: { team: 'net' },
      },
      'prod',
    );
    const ds = r.one<Any>('DaemonSet');
    const pod = ds.spec.template.spec;
    expect(ds.metadata.name).toBe('netcheck-agent');
    expect(pod.containers[0].image).toBe(`registry.example/asymroute@sha256:${'a'.repeat(64)}`);
    expect(pod.nodeSelector).toEqual({ 'node-role.kubernetes.io/lb': '' });
    expect(pod.tolerations).toEqual([{ key: 'dedicated', operator: 'Equal', value: 'lb', effect: 'NoSchedule' }]);
    expect(pod.affinity.nodeAffinity).toBeDefined();
    expect(pod.priorityClassName).toBeUndefined();
    expect(pod.serviceAccountName).toBe('existing-sa');
    // Only the reader `asymroute cluster` asks a token for: the agent's own account exists already.
    expect(r.byKind('ServiceAccount').map((x) => x.metadata.name)).toEqual(['netcheck-agent-reader']);
    expect(pod.containers[0].livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'probes', host: '127.0.0.1' });
    expect(pod.containers[0].ports[0].containerPort).toBe(19472);
    expect(ds.spec.template.metadata.annotations.team).toBe('net');
    expect(ds.spec.template.metadata.annotations['checksum/config']).toMatch(/^[a-f0-9]{64}$/);
    expect((r.byKind('ClusterRoleBinding').find((x) => x.metadata.name === 'netcheck-agent') as Any).subjects[0].name).toBe('existing-sa');
  });

  it('fails with the message of required when an existing ServiceAccount has no name', () => {
    expect(() => renderChart({ serviceAccount: { create: false } })).toThrow(
      /serviceAccount.name is required when serviceAccount.create is false/,
    );
  });

  it("renders the ServiceMonitor and PrometheusRule only when asked, selecting the chart's own Service and job", () => {
    expect(render().byKind('ServiceMonitor')).toEqual([]);
    const r = render({ serviceMonitor: { enabled: true, labels: { release: 'kps' } }, prometheusRule: { enabled: true } }, 'netcheck');
    const sm = r.one<Any>('ServiceMonitor');
    const svc = r.one<Any>('Service');
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) expect(svc.metadata.labels[k]).toBe(v);
    expect(sm.spec.namespaceSelector.matchNames).toEqual(['netcheck']);
    expect(sm.spec.endpoints[0]).toMatchObject({ port: 'http', path: '/metrics' });
    expect(sm.spec.endpoints[0].relabelings).toContainEqual({
      sourceLabels: ['__meta_kubernetes_pod_node_name'],
      targetLabel: 'node',
      action: 'replace',
    });
    expect(sm.metadata.labels.release).toBe('kps');
    const rule = r.one<Any>('PrometheusRule');
    const rules = rule.spec.groups[0].rules as Any[];
    // The job Prometheus Operator gives a ServiceMonitor's targets is the Service's name.
    for (const x of rules.filter((y) => !y.alert.endsWith('MissingOnNodes')))
      expect(x.expr, x.alert).toContain(`job="${svc.metadata.name}"`);
    expect(() => renderChart({ serviceMonitor: { enabled: true }, service: { enabled: false } })).toThrow(
      /serviceMonitor.enabled needs service.enabled/,
    );
  });

  it('scrapes over HTTPS with a bearer token, verifying the certificate unless it is self-signed', () => {
    const endpoint = (v: Record<string, unknown>) =>
      render({ ...v, serviceMonitor: { enabled: true, ...((v['serviceMonitor'] as object) ?? {}) } }, 'netcheck').one<Any>('ServiceMonitor')
        .spec.endpoints[0] as Any;
    expect(endpoint({})).toMatchObject({
      scheme: 'https',
      tlsConfig: { insecureSkipVerify: true },
      bearerTokenFile: '/var/run/secrets/kubernetes.io/serviceaccount/token',
    });
    expect(endpoint({ tls: { source: 'secret', secretName: 'node-tls' } })).toMatchObject({
      scheme: 'https',
      tlsConfig: { ca: { secret: { name: 'node-tls', key: 'ca.crt' } }, serverName: 'netcheck-asymroute.netcheck.svc' },
    });
    const own = endpoint({
      serviceMonitor: {
        tlsConfig: { insecureSkipVerify: false, serverName: 'x' },
        authorization: { credentials: { name: 's', key: 't' } },
      },
    });
    expect(own.tlsConfig).toEqual({ insecureSkipVerify: false, serverName: 'x' });
    expect(own.authorization).toEqual({ credentials: { name: 's', key: 't' } });
    expect(own.bearerTokenFile).toBeUndefined();
    const plain = endpoint({ config: { auth: 'none', insecureNoAuth: true } });
    expect([plain.scheme, plain.tlsConfig, plain.bearerTokenFile]).toEqual([undefined, undefined, undefined]);
  });

  it('offers reader ClusterRoles for the permissions the agent checks, and binds the metrics readers given', () => {
    const r = render({ rbac: { metricsReaders: [{ kind: 'ServiceAccount', name: 'prometheus-k8s', namespace: 'monitoring' }] } });
    const rules = Object.fromEntries(r.byKind('ClusterRole').map((x) => [x.metadata.name, (x as Any).rules]));
    expect(rules['asymroute-metrics-reader']).toEqual([{ nonResourceURLs: ['/metrics'], verbs: ['get'] }]);
    expect(rules['asymroute-report-reader']).toEqual([{ apiGroups: ['asymroute.io'], resources: ['reports'], verbs: ['get'] }]);
    expect(rules['asymroute-capture']).toEqual([{ apiGroups: ['asymroute.io'], resources: ['captures'], verbs: ['get'] }]);
    expect(rules['asymroute-capture-payloads']).toEqual([
      { apiGroups: ['asymroute.io'], resources: ['captures', 'captures/payloads'], verbs: ['get'] },
    ]);
    const binding = r.byKind('ClusterRoleBinding').find((x) => x.metadata.name === 'asymroute-metrics-reader') as Any;
    expect(binding.roleRef.name).toBe('asymroute-metrics-reader');
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'prometheus-k8s', namespace: 'monitoring' }]);
    expect(
      render({ rbac: { readerRoles: false } })
        .byKind('ClusterRole')
        .map((x) => x.metadata.name),
    ).toEqual(['asymroute']);
  });

  it('lets `asymroute cluster` in: a reader account that may only read reports, a viewer Role, and the pod annotations it reads', () => {
    const r = render({ rbac: { clusterViewers: [{ kind: 'Group', name: 'netops', apiGroup: 'rbac.authorization.k8s.io' }] } });
    const annotations = r.one<Any>('DaemonSet').spec.template.metadata.annotations;
    expect(annotations['asymroute.io/scheme']).toBe('https');
    expect(annotations['asymroute.io/reader-service-account']).toBe('asymroute-reader');
    const reader = r.byKind('ClusterRoleBinding').find((x) => x.metadata.name === 'asymroute-reader') as Any;
    expect(reader.roleRef.name).toBe('asymroute-report-reader');
    expect(reader.subjects).toEqual([{ kind: 'ServiceAccount', name: 'asymroute-reader', namespace: 'netcheck' }]);
    const viewer = r.one<Any>('Role');
    expect(viewer.metadata).toMatchObject({ name: 'asymroute-cluster-viewer', namespace: 'netcheck' });
    expect(viewer.rules).toEqual([
      { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
      { apiGroups: [''], resources: ['pods/proxy'], verbs: ['get'] },
      { apiGroups: [''], resources: ['serviceaccounts/token'], resourceNames: ['asymroute-reader'], verbs: ['create'] },
    ]);
    const nodes = r.byKind('ClusterRole').find((x) => x.metadata.name === 'asymroute-cluster-viewer-nodes') as Any;
    expect(nodes.rules).toEqual([{ apiGroups: [''], resources: ['nodes'], verbs: ['list'] }]);
    expect(r.one<Any>('RoleBinding').subjects).toEqual([{ kind: 'Group', name: 'netops', apiGroup: 'rbac.authorization.k8s.io' }]);
    // Plain HTTP without auth: no reader, the scheme says http.
    const plain = render({ config: { auth: 'none', insecureNoAuth: true } });
    const plainAnnotations = plain.one<Any>('DaemonSet').spec.template.metadata.annotations;
    expect([plainAnnotations['asymroute.io/scheme'], plainAnnotations['asymroute.io/reader-service-account']]).toEqual(['http', undefined]);
    expect(plain.byKind('Role')).toEqual([]);
  });

  it('mounts the serving certificate from a Secret or cert-manager, and points the agent at it', () => {
    const check = (v: Record<string, unknown>, secret: string) => {
      const r = render(v);
      const pod = r.one<Any>('DaemonSet').spec.template.spec;
      expect(pod.volumes).toContainEqual({ name: 'tls', secret: { secretName: secret } });
      expect(pod.containers[0].volumeMounts).toContainEqual({ name: 'tls', mountPath: '/etc/asymroute-tls', readOnly: true });
      expect(pod.containers[0].readinessProbe.httpGet.port).toBe('probes');
      const cfg = parseYaml(r.one<Any>('ConfigMap').data['config.yaml'] as string) as Any;
      expect([cfg.tlsCertFile, cfg.tlsKeyFile]).toEqual(['/etc/asymroute-tls/tls.crt', '/etc/asymroute-tls/tls.key']);
      return r;
    };
    expect(check({ tls: { source: 'secret', secretName: 'node-tls' } }, 'node-tls').byKind('Certificate')).toEqual([]);
    expect(() => renderChart({ tls: { source: 'secret' } })).toThrow(/tls.secretName is required when tls.source is secret/);
    const made = check({ tls: { source: 'certManager' } }, 'asymroute-tls');
    const certs = made.byKind('Certificate') as Any[];
    expect(certs.map((c) => [c.metadata.name, c.spec.issuerRef])).toEqual([
      ['asymroute-ca', { name: 'asymroute-selfsigned', kind: 'Issuer' }],
      ['asymroute', { name: 'asymroute-ca', kind: 'Issuer' }],
    ]);
    expect(certs[1]!.spec).toMatchObject({
      secretName: 'asymroute-tls',
      dnsNames: ['asymroute.netcheck.svc', 'asymroute.netcheck.svc.cluster.local'],
    });
    expect(made.byKind('Issuer').map((i) => i.metadata.name)).toEqual(['asymroute-selfsigned', 'asymroute-ca']);
    const given = check(
      { tls: { source: 'certManager', certManager: { issuerRef: { kind: 'ClusterIssuer', name: 'internal-ca' } } } },
      'asymroute-tls',
    );
    expect(given.byKind('Issuer')).toEqual([]);
    expect((given.one<Any>('Certificate').spec as Any).issuerRef).toEqual({ kind: 'ClusterIssuer', name: 'internal-ca' });
    // Self-signed (the default): no volume, no files; the agent makes its own.
    const self = render();
    expect(self.one<Any>('DaemonSet').spec.template.spec.volumes.map((x: Any) => x.name)).toEqual(['config', 'tmp']);
    expect(parseYaml(self.one<Any>('ConfigMap').data['config.yaml'] as string)).toMatchObject({
      tlsCertFile: null,
      auth: 'auto',
      tls: 'auto',
    });
  });

  it('refuses an unauthenticated listener off loopback unless insecureNoAuth, which serves plain HTTP', () => {
    expect(() => renderChart({ config: { auth: 'none' } })).toThrow(/config.listen "0.0.0.0" with auth none/);
    expect(() => renderChart({ config: { kubernetes: 'off' } })).toThrow(/config.listen "0.0.0.0" with auth none/);
    expect(() => renderChart({ config: { auth: 'kubernetes', kubernetes: 'off', listen: '127.0.0.1' } })).toThrow(
      /config.auth kubernetes needs config.kubernetes/,
    );
    const c = render({ config: { auth: 'none', insecureNoAuth: true, probePort: 0 } }).one<Any>('DaemonSet').spec.template.spec
      .containers[0];
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
  });

  it('admits the port only from the chosen peers with the optional NetworkPolicy', () => {
    expect(render().byKind('NetworkPolicy')).toEqual([]);
    const from = [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }];
    const r = render({ networkPolicy: { enabled: true, from } });
    const np = r.one<Any>('NetworkPolicy');
    expect(np.spec.podSelector.matchLabels).toEqual(r.one<Any>('DaemonSet').spec.selector.matchLabels);
    expect(np.spec.policyTypes).toEqual(['Ingress']);
    expect(np.spec.ingress).toEqual([{ ports: [{ port: 9472, protocol: 'TCP' }], from }]);
    expect(() => renderChart({ networkPolicy: { enabled: true } })).toThrow(/networkPolicy.enabled needs networkPolicy.from/);
  });

  it('drops the capture alerts when the capture is off, and each alert has its toggle', () => {
    const alerts = (v: Record<string, unknown>) =>
      (render({ prometheusRule: { enabled: true, ...v } }).one<Any>('PrometheusRule').spec.groups[0].rules as Any[]).map(
        (x) => x.alert as string,
      );
    const all = alerts({});
    expect(all).toEqual([
      'AsymrouteReplyPathAsymmetric',
      'AsymrouteReplyPathUnknown',
      'AsymrouteAsymmetricFlowsObserved',
      'AsymrouteSynUnanswered',
      'AsymrouteVipTrafficStarvation',
      'AsymrouteVipArpUnanswered',
      'AsymrouteVipArpConflict',
      'AsymrouteBgpSessionDown',
      'AsymrouteRpFilterDroppingVipTraffic',
      'AsymrouteCaptureDown',
      'AsymrouteCaptureDroppingPackets',
      'AsymrouteCheckFailing',
      'AsymrouteKubernetesUnreachable',
      'AsymrouteVipsNotWatched',
      'AsymrouteAgentDown',
      'AsymrouteAgentAbsent',
      'AsymrouteAgentMissingOnNodes',
    ]);
    const off = render({ prometheusRule: { enabled: true }, config: { capture: false } })
      .one<Any>('PrometheusRule')
      .spec.groups[0].rules.map((x: Any) => x.alert);
    expect(off).not.toContain('AsymrouteCaptureDown');
    expect(alerts({ alerts: { synUnanswered: { enabled: false } } })).not.toContain('AsymrouteSynUnanswered');
  });

  it("writes NOTES that tell how to curl a node's report", () => {
    const r = render({}, 'netcheck');
    expect(r.notes).toMatch(/curl -k -H "Authorization: Bearer \$TOKEN" https:\/\/localhost:9472\//);
    expect(r.notes).toMatch(/kubectl -n netcheck port-forward pod\/<pod on the node> 9472:9472/);
    expect(r.notes).toMatch(/curl -k -H "Authorization: Bearer \$TOKEN" https:\/\/<node IP>:9472\//);
    expect(r.notes).toMatch(/--clusterrole=netcheck-asymroute-report-reader/);
    expect(r.notes).toMatch(/kubectl asymroute -n \S+ -l app\.kubernetes\.io\/instance=netcheck/);
    const local = render({ config: { listen: '127.0.0.1', auth: 'none' } }, 'netcheck').notes;
    expect(local).toMatch(/^ {2}curl http:\/\/localhost:9472\/$/m);
    expect(local).not.toMatch(/node IP|TOKEN/);
  });
});
