// The Kubernetes gauge, apart from the monitor so the metrics page lists it without loading the Kubernetes client.
// serve registers it only when Kubernetes is in use: a label-less prom-client gauge always has a sample (0 even after
// reset), so with Kubernetes off the gauge is not registered at all, and absent to Prometheus.

import { Gauge, type Registry } from 'prom-client';

/** `connected`: the Service watch's state. */
export function registerKubernetesUp(registry: Registry, connected: () => boolean): void {
  new Gauge({
    name: 'asymroute_kubernetes_up',
    help: '1 while the Service watch is connected, 0 when the API is unreachable; absent when Kubernetes is not in use.',
    registers: [registry],
    collect() {
      this.set(connected() ? 1 : 0);
    },
  });
}
