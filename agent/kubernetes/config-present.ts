// Whether a Kubernetes configuration exists, decided without loading @kubernetes/client-node (about a second of
// start-up): the client is imported only when this says yes.

import { existsSync } from 'node:fs';
import { join } from 'node:path';

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** The places loadKubeConfig looks: a given file, in-cluster, $KUBECONFIG, ~/.kube/config, a mounted service account. */
export function kubeConfigPresent(path: string | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  if (path) return true;
  if (env['KUBERNETES_SERVICE_HOST']) return true;
  if (env['KUBECONFIG']) return true;
  if (env['HOME'] && existsSync(join(env['HOME'], '.kube', 'config'))) return true;
  return existsSync(SERVICE_ACCOUNT_TOKEN);
}
