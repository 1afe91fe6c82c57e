// The chart rendered and every object validated against the Kubernetes, Prometheus Operator and cert-manager schemas
// (kubernetes-models), shared by the chart tests.

import { ConfigMap, Service, ServiceAccount } from 'kubernetes-models/v1';
import { DaemonSet } from 'kubernetes-models/apps/v1';
import { ClusterRole, ClusterRoleBinding, Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodMonitor, PrometheusRule, ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { Certificate, Issuer } from '@kubernetes-models/cert-manager/cert-manager.io/v1';
import { expect } from 'vitest';
import { renderChart } from './helm.js';

const MODELS: Record<string, new (o: never) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/DaemonSet': DaemonSet,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PodMonitor': PodMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'cert-manager.io/v1/Certificate': Certificate,
  'cert-manager.io/v1/Issuer': Issuer,
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Any = Record<string, any>;

/** Renders and validates every object; returns them, by kind, and the one object of a kind. */
export function renderValidated(values: Record<string, unknown> = {}, release = 'asymroute') {
  const r = renderChart(values, { release, namespace: 'netcheck' });
  for (const o of r.objects) {
    const Model = MODELS[`${o.apiVersion}/${o.kind}`];
    expect(Model, `no schema for ${o.apiVersion}/${o.kind}`).toBeDefined();
    expect(() => new Model!(o as never).validate(), `${o.kind} ${o.metadata.name}`).not.toThrow();
  }
  const byKind = (kind: string) => r.objects.filter((o) => o.kind === kind);
  const one = <T = Any>(kind: string) => {
    const l = byKind(kind);
    expect(l, kind).toHaveLength(1);
    return l[0] as unknown as T;
  };
  return { ...r, byKind, one };
}
