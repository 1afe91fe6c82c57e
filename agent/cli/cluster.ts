// `asymroute cluster` (also `kubectl asymroute`): finds the agent pods by label and reads each agent's JSON report
// through the API server's pod proxy with the user's kubeconfig credentials, then prints one VIP x node table.
//
// The pod proxy removes the caller's Authorization header once the API server has authenticated it, so the agents
// get their own token in X-Asymroute-Authorization: a 10-minute token of the chart's reader service account (get
// reports.asymroute.io only), asked for with TokenRequest, or the one in --token-file.

import { readFileSync } from 'node:fs';
import type { KubeConfig } from '@kubernetes/client-node';
import { resolveConfig, UsageError } from '../config/load.js';
import { PROXIED_AUTHORIZATION } from '../exposition/auth.js';
import { CHECK_SCHEMA } from '../exposition/check-report.js';
import { loadKubeConfig } from '../kubernetes/api.js';
import { kubeConfigPresent } from '../kubernetes/config-present.js';
import { kubeHttp, type KubeAnswer } from '../kubernetes/request.js';
import { EnvironmentError } from '../sources/tool.js';
import type { Output } from './check.js';
import { clusterText, clusterView, type AgentOutcome, type AgentPod, type AgentReport } from '../exposition/cluster-view.js';
import { DNS_SUBDOMAIN } from '../net/kube-name.js';

/** Annotations the chart puts on the agent pods. */
export const SCHEME_ANNOTATION = 'asymroute.io/scheme';
export const READER_ANNOTATION = 'asymroute.io/reader-service-account';

const CONCURRENCY = 8;
const MAX_REPORT_BYTES = 32 << 20;
const TOKEN_SECONDS = 600;
const DEFAULT_PORT = 9472;

interface PodObject {
  metadata?: { name?: unknown; namespace?: unknown; annotations?: Record<string, unknown> };
  spec?: { nodeName?: unknown; containers?: Array<{ ports?: Array<{ name?: unknown; containerPort?: unknown }> }> };
  status?: { phase?: unknown; podIP?: unknown; conditions?: Array<{ type?: unknown; status?: unknown }> };
}

interface Agent extends AgentPod {
  phase: string;
  ready: boolean;
  hasIp: boolean;
  port: number;
  scheme: 'http' | 'https' | null;
  reader: string | null;
}

function agentOf(o: PodObject): Agent | null {
  const name = o.metadata?.name;
  const namespace = o.metadata?.namespace;
  const node = o.spec?.nodeName;
  if (typeof name !== 'string' || !DNS_SUBDOMAIN.test(name)) return null;
  if (typeof namespace !== 'string' || !DNS_SUBDOMAIN.test(namespace)) return null;
  if (typeof node !== 'string' || !node) return null;
  const ports = (o.spec?.containers ?? []).flatMap((c) => c.ports ?? []);
  const named = ports.find((p) => p.name === 'http' || p.name === 'https') ?? ports[0];
  const port =
    typeof named?.containerPort === 'number' && named.containerPort > 0 && named.containerPort < 65536 ? named.containerPort : DEFAULT_PORT;
  const a = o.metadata?.annotations ?? {};
  const scheme = a[SCHEME_ANNOTATION] === 'https' ? 'https' : a[SCHEME_ANNOTATION] === 'http' ? 'http' : null;
  const reader = typeof a[READER_ANNOTATION] === 'string' && DNS_SUBDOMAIN.test(a[READER_ANNOTATION]) ? a[READER_ANNOTATION] : null;
  return {
    name,
    namespace,
    node,
    phase: typeof o.status?.phase === 'string' ? o.status.phase : 'Unknown',
    ready: (o.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
    hasIp: typeof o.status?.podIP === 'string' && o.status.podIP !== '',
    port,
    scheme,
    reader,
  };
}

/** An answer's body as an object, or null when it is not JSON. */
function jsonOf(a: KubeAnswer): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(a.text);
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** The message of a Kubernetes Status body, else the start of the text. */
function statusMessage(a: KubeAnswer, body = jsonOf(a)): string {
  if (body?.['kind'] === 'Status' && typeof body['message'] === 'string') return body['message'];
  return a.text.trim().slice(0, 200) || `HTTP ${a.status}`;
}

async function listItems<T>(kc: KubeConfig, path: string, timeoutMs: number): Promise<T[]> {
  let a: KubeAnswer;
  try {
    a = await kubeHttp(kc, 'GET', path, { timeoutMs });
  } catch (e) {
    throw new EnvironmentError(`cannot reach the Kubernetes API at ${kc.getCurrentCluster()?.server}: ${(e as Error).message}`);
  }
  if (a.status !== 200) throw new KubeListError(`GET ${path}: ${a.status} ${statusMessage(a)}`, a.status);
  const body = JSON.parse(a.text) as { items?: unknown };
  return Array.isArray(body.items) ? (body.items as T[]) : [];
}

class KubeListError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** A token for the agents: --token-file, else TokenRequest for each namespace's reader service account. */
async function tokensFor(
  kc: KubeConfig,
  agents: Agent[],
  cfg: { tokenFile: string | null; serviceAccount: string | null; timeoutMs: number },
): Promise<{ token: (a: Agent) => string | null; problems: Map<string, string> }> {
  const problems = new Map<string, string>();
  if (cfg.tokenFile) {
    let t: string;
    try {
      t = readFileSync(cfg.tokenFile, 'utf8').trim();
    } catch (e) {
      throw new UsageError(`--token-file ${JSON.stringify(cfg.tokenFile)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    if (!/^[\x21-\x7e]{1,8192}$/.test(t))
      throw new UsageError(`--token-file ${JSON.stringify(cfg.tokenFile)}: expected one token of printable characters`);
    return { token: () => t, problems };
  }
  const got = new Map<string, string | null>();
  for (const a of agents) {
    const sa = cfg.serviceAccount ?? a.reader;
    if (!sa) continue;
    const key = `${a.namespace}/${sa}`;
    if (got.has(key)) continue;
    const path = `/api/v1/namespaces/${a.namespace}/serviceaccounts/${sa}/token`;
    try {
      const r = await kubeHttp(kc, 'POST', path, {
        timeoutMs: cfg.timeoutMs,
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: TOKEN_SECONDS } },
      });
      const token =
        r.status === 201 || r.status === 200 ? (JSON.parse(r.text) as { status?: { token?: unknown } }).status?.token : undefined;
      if (typeof token === 'string' && token) got.set(key, token);
      else {
        got.set(key, null);
        problems.set(key, `TokenRequest for service account ${key}: ${r.status} ${statusMessage(r)}`);
      }
    } catch (e) {
      got.set(key, null);
      problems.set(key, `TokenRequest for service account ${key}: ${(e as Error).message}`);
    }
  }
  return {
    token: (a) => {
      const sa = cfg.serviceAccount ?? a.reader;
      return sa ? (got.get(`${a.namespace}/${sa}`) ?? null) : null;
    },
    problems,
  };
}

async function ask(kc: KubeConfig, a: Agent, token: string | null, noToken: string | null, timeoutMs: number): Promise<AgentOutcome> {
  const pod: AgentPod = { namespace: a.namespace, name: a.name, node: a.node };
  const out = (state: AgentOutcome['state'], detail: string | null, report: AgentReport | null = null): AgentOutcome => ({
    node: a.node,
    pod,
    state,
    detail,
    report,
  });
  if (a.phase !== 'Running' || !a.hasIp) return out('not-running', `pod ${a.phase}${a.hasIp ? '' : ', no address yet'}`);
  // Without the chart's annotation, HTTPS first (the chart's default), then plain HTTP.
  const schemes = a.scheme ? [a.scheme] : (['https', 'http'] as const);
  let last: AgentOutcome | null = null;
  for (const scheme of schemes) {
    const path = `/api/v1/namespaces/${a.namespace}/pods/${scheme}:${a.name}:${a.port}/proxy/?format=json`;
    let r: KubeAnswer;
    try {
      r = await kubeHttp(kc, 'GET', path, {
        timeoutMs,
        maxBytes: MAX_REPORT_BYTES,
        headers: token ? { [PROXIED_AUTHORIZATION]: `Bearer ${token}` } : {},
      });
    } catch (e) {
      return out('no-answer', (e as Error).message);
    }
    const body = jsonOf(r);
    if (r.status === 200) {
      const report = body as AgentReport | null;
      if (report?.schema === CHECK_SCHEMA && Array.isArray(report.vips) && Array.isArray(report.findings))
        return out('answered', null, report);
      return out('error', `the answer is not an asymroute report (${r.contentType || 'no content type'})`);
    }
    if (body?.['kind'] === 'Status') {
      // The API server's own answer: the proxy could not reach the pod (503), the pod has no address (400), or the
      // caller may not use pods/proxy (403).
      const m = statusMessage(r, body);
      if (r.status === 503) {
        last = out('no-answer', m);
        continue;
      }
      if (r.status === 400) return out('not-running', m);
      return out('error', `the API server answered ${r.status}: ${m}`);
    }
    const error = typeof body?.['error'] === 'string' ? body['error'] : `HTTP ${r.status}`;
    const agentError = `${error}${typeof body?.['permission'] === 'string' ? ` (needs ${body['permission']})` : ''}`;
    if (r.status === 401) return out('unauthorized', `${agentError}${noToken ? `; no token to send: ${noToken}` : ''}`);
    if (r.status === 403) return out('forbidden', agentError);
    return out('error', `the agent answered ${r.status}: ${agentError}`);
  }
  return last!;
}

async function pool<T, R>(items: T[], n: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

const rank = (a: Agent) => (a.phase === 'Running' ? 2 : 0) + (a.ready ? 1 : 0);

export async function runCluster(argv: string[], io: Output): Promise<number> {
  const { values: cfg, positionals } = resolveConfig('cluster', argv);
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])} (see asymroute cluster --help)`);
  // Without one, client-node would fall back to http://localhost:8080 and fail with a confusing message.
  const kc = kubeConfigPresent(cfg.kubeconfig ?? undefined) ? loadKubeConfig(cfg.kubeconfig ?? undefined) : null;
  if (!kc)
    throw new EnvironmentError(
      cfg.kubeconfig
        ? `cannot load the kubeconfig ${JSON.stringify(cfg.kubeconfig)}`
        : 'no kubeconfig: set $KUBECONFIG, pass --kubeconfig, or create ~/.kube/config',
    );
  if (cfg.context) {
    if (!kc.getContexts().some((c) => c.name === cfg.context))
      throw new UsageError(
        `--context ${JSON.stringify(cfg.context)}: no such context in the kubeconfig (${
          kc
            .getContexts()
            .map((c) => c.name)
            .join(', ') || 'none'
        })`,
      );
    kc.setCurrentContext(cfg.context);
  }
  const timeoutMs = cfg.timeout * 1000;
  const selector = encodeURIComponent(cfg.selector);
  const podsPath = cfg.namespace
    ? `/api/v1/namespaces/${cfg.namespace}/pods?labelSelector=${selector}`
    : `/api/v1/pods?labelSelector=${selector}`;
  let pods: PodObject[];
  try {
    pods = await listItems<PodObject>(kc, podsPath, timeoutMs);
  } catch (e) {
    if (e instanceof KubeListError) throw new EnvironmentError(`cannot list the agent pods: ${e.message}`);
    throw e;
  }
  const notes: string[] = [];
  let nodeNames: string[] | null = null;
  try {
    nodeNames = (await listItems<{ metadata?: { name?: unknown } }>(kc, '/api/v1/nodes', timeoutMs)).flatMap((n) =>
      typeof n.metadata?.name === 'string' ? [n.metadata.name] : [],
    );
  } catch (e) {
    if (!(e instanceof KubeListError)) throw e;
    notes.push(`nodes not listed (${e.message}): nodes without an agent are not shown`);
  }

  // One agent per node: a running, ready pod over one being replaced.
  const byNode = new Map<string, Agent>();
  for (const a of pods.map(agentOf)) if (a && (!byNode.has(a.node) || rank(a) > rank(byNode.get(a.node)!))) byNode.set(a.node, a);
  const where = cfg.namespace ? `namespace ${cfg.namespace}` : 'any namespace';
  if (byNode.size === 0)
    throw new EnvironmentError(
      `no agent pods match ${cfg.selector} in ${where}: is the chart installed? (-n NAMESPACE, -l SELECTOR for another install)`,
    );
  const agents = [...byNode.values()];
  const { token, problems } = await tokensFor(kc, agents, { tokenFile: cfg.tokenFile, serviceAccount: cfg.serviceAccount, timeoutMs });
  for (const p of new Set(problems.values())) notes.push(`${p}: agents that check tokens will answer 401`);

  const outcomes = await pool(agents, CONCURRENCY, (a) => {
    const sa = cfg.serviceAccount ?? a.reader;
    const noToken = sa
      ? (problems.get(`${a.namespace}/${sa}`) ?? null)
      : 'the pod names no reader service account (--service-account, --token-file)';
    return ask(kc, a, token(a), noToken, timeoutMs);
  });
  for (const n of nodeNames ?? [])
    if (!byNode.has(n)) outcomes.push({ node: n, pod: null, state: 'no-agent', detail: `no pod matching ${cfg.selector}`, report: null });

  const view = clusterView(outcomes, { selector: cfg.selector, takenAt: new Date().toISOString(), notes });
  io.out(cfg.output === 'json' ? JSON.stringify(view, null, 2) : clusterText(view));
  return view.exitCode;
}
