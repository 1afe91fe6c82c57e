// The chart's README (charts/asymroute/README.md): an intro, install commands and the Pod Security Admission
// requirement written here, then helm-docs' "Values" table (Key | Type | Default | Description) built from the
// `# --` comments in values.yaml. `npm run chart-readme` rewrites it; test/chart/readme.test.ts fails when it is stale.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

// Run from scripts/ (vitest) or dist/scripts/ (npm run chart-readme): the repository is where package.json is.
function repoRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(d, 'package.json')) && dirname(d) !== d) d = dirname(d);
  return d;
}

export const CHART_DIR = join(repoRoot(), 'charts', 'asymroute');
export const README_FILE = join(CHART_DIR, 'README.md');

export interface Row {
  key: string;
  type: string;
  default: string;
  description: string;
}

/**
 * Descriptions by dotted key path: a `# -- text` comment, with the `# ` lines that follow it, documents the key on the
 * next line (helm-docs' convention). Keys are found by indentation, which is how values.yaml is written.
 */
export function descriptions(valuesYaml: string): Map<string, string> {
  const out = new Map<string, string>();
  const stack: Array<{ indent: number; key: string }> = [];
  let pending: string[] | null = null;
  for (const line of valuesYaml.split('\n')) {
    const comment = /^\s*#\s?(.*)$/.exec(line);
    if (comment) {
      const text = comment[1]!;
      if (text.startsWith('-- ')) pending = [text.slice(3).trim()];
      else if (pending) pending.push(text.trim());
      continue;
    }
    const key = /^(\s*)([A-Za-z0-9_.-]+):(\s|$)/.exec(line);
    if (!key) {
      if (line.trim() === '') pending = null;
      continue;
    }
    const indent = key[1]!.length;
    while (stack.length > 0 && stack[stack.length - 1]!.indent >= indent) stack.pop();
    stack.push({ indent, key: key[2]! });
    if (pending) out.set(stack.map((s) => s.key).join('.'), pending.join(' '));
    pending = null;
  }
  return out;
}

// helm-docs' type names.
function typeOf(v: unknown): string {
  if (Array.isArray(v)) return 'list';
  if (v === null || v === undefined) return 'string';
  if (typeof v === 'object') return 'object';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  if (typeof v === 'boolean') return 'bool';
  return 'string';
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const cell = (s: string) => s.replace(/\|/g, '\\|');

/** helm-docs' rows: a documented key as a whole; an undocumented map by its keys; an undocumented leaf as itself. */
export function valueRows(valuesYaml: string): Row[] {
  const docs = descriptions(valuesYaml);
  const values = parse(valuesYaml) as Record<string, unknown>;
  const rows: Row[] = [];
  const walk = (v: unknown, path: string) => {
    const doc = docs.get(path);
    if (doc === undefined && isMap(v) && Object.keys(v).length > 0) {
      for (const [k, x] of Object.entries(v)) walk(x, path ? `${path}.${k}` : k);
      return;
    }
    rows.push({ key: path, type: typeOf(v), default: `\`${JSON.stringify(v ?? null)}\``, description: doc ?? '' });
  };
  walk(values, '');
  return rows.sort((a, b) => a.key.localeCompare(b.key, 'en'));
}

const INTRO = `# asymroute

A privileged per-node agent (a DaemonSet) that tells bare-metal Kubernetes operators whether the replies for their
load-balancer VIPs leave the node on the interface the requests arrived on, and when not, which route or rule sends
them astray and the commands that fix it. It is scraped by Prometheus and read with curl. The operator's guide is
[docs/operations.md](../../docs/operations.md#deploying-on-kubernetes-helm).

## Installing

A version tag (\`v0.1.0\`) runs the release workflow (\`.github/workflows/release.yml\`), which publishes the image for
linux/amd64 and linux/arm64 as \`ghcr.io/asymroute/asymroute:<version>\` (the chart's default image) and this chart
as the OCI artifact \`oci://ghcr.io/asymroute/charts/asymroute\`. Both exist only for versions that have been tagged;
none has been yet at the time of writing.

\`\`\`
kubectl create namespace asymroute
kubectl label namespace asymroute pod-security.kubernetes.io/enforce=privileged
helm install asymroute oci://ghcr.io/asymroute/charts/asymroute --version <version> -n asymroute
\`\`\`

Air-gapped clusters, a registry mirror or an untagged commit: build the image from the repository's Dockerfile, push
it to a registry the nodes reach, and install the chart from the checkout:

\`\`\`
docker build -t registry.example/asymroute:0.1.0 --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) .
docker push registry.example/asymroute:0.1.0
helm install asymroute charts/asymroute -n asymroute \\
  --set image.registry=registry.example --set image.repository=asymroute
\`\`\`

With the Prometheus Operator add \`--set serviceMonitor.enabled=true --set prometheusRule.enabled=true\` (or
\`podMonitor.enabled\` instead of the ServiceMonitor) and bind Prometheus's service account with
\`rbac.metricsReaders\`. As a subchart, list it under \`dependencies\` with \`condition: asymroute.enabled\`: the schema
accepts \`global\` and \`enabled\`.

## Pod Security Admission

The agent runs with \`hostNetwork: true\` (it reads the node's own routes and captures on its interfaces), as root,
and adds capabilities (NET_ADMIN, and with the capture NET_RAW, SETUID, SETGID and KILL). The Baseline profile of
Pod Security Admission rejects host networking and those capabilities, and Restricted rejects them and root too, so
the namespace the chart is installed in must enforce the Privileged profile:

\`\`\`
kubectl label namespace asymroute pod-security.kubernetes.io/enforce=privileged --overwrite
\`\`\`

or, managed as a manifest:

\`\`\`yaml
apiVersion: v1
kind: Namespace
metadata:
  name: asymroute
  labels:
    pod-security.kubernetes.io/enforce: privileged
    pod-security.kubernetes.io/warn: privileged
    pod-security.kubernetes.io/audit: privileged
\`\`\`

Without the label, a namespace under a Baseline or Restricted cluster default gets no pods: the DaemonSet's events
say \`violates PodSecurity\`. Keep nothing else in that namespace. Each capability is measured as needed
(test/chart/capabilities.test.ts); everything else is dropped, the root filesystem is read-only and privilege
escalation is off (\`containerSecurityContext\` overrides these key by key).

`;

export function renderReadme(valuesYaml = readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8')): string {
  const lines = [
    INTRO.trimEnd(),
    '',
    '## Values',
    '',
    'Generated from the `# --` comments in values.yaml by `npm run chart-readme` (scripts/chart-readme.ts).',
    '',
    '| Key | Type | Default | Description |',
    '|-----|------|---------|-------------|',
    ...valueRows(valuesYaml).map((r) => `| ${cell(r.key)} | ${r.type} | ${cell(r.default)} | ${cell(r.description)} |`),
  ];
  return lines.join('\n') + '\n';
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const before = existsSync(README_FILE) ? readFileSync(README_FILE, 'utf8') : '';
  const after = renderReadme();
  if (after !== before) writeFileSync(README_FILE, after);
  console.log(`${after === before ? 'unchanged' : 'wrote'} ${README_FILE}`);
}
