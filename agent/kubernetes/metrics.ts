// The Kubernetes gauge, apart from the monitor so serve registers it without loading the Kubernetes client: with
// Kubernetes off it has no sample (absent to Prometheus), yet alerts and dashboards find its name.

import { Gauge, type Registry } from 'prom-client';

/** `connected`: the Service watch's state, or null when Kubernetes is not in use. */
export function registerKubernetesUp(registry: Registry, connected: () => boolean | null): void {
  new Gauge({
    name: 'asymroute_kubernetes_up',
    help: '1 while the Service watch is connected, 0 when the API is unreachable; absent when Kubernetes is not in use.',
    registers: [registry],
    collect() {
      this.reset();
      const c = connected();
      if (c !== null) this.set(c ? 1 : 0);
    },
  });
}
