// The contract between evidence sources and the rest of the agent. A monitor owns its loop, state and metrics and
// publishes findings, a health line, a section of the report and read-only endpoints; exporters read only these.

import type { Finding } from './registry.js';
import type { TrackedFinding } from './store.js';
import type { RestarterState } from '../supervisor/restarter.js';

export type LogFn = (record: Record<string, unknown>) => void;

export interface MonitorHealth {
  /** false makes /healthz answer 503 */
  ok: boolean;
  /** one word for /healthz, e.g. running, disabled, capture-down */
  state: string;
  detail?: Record<string, unknown>;
}

export interface ReportSection {
  /** merged into the JSON report's top level */
  json: Record<string, unknown>;
  /** lines of the text report */
  text: string[];
}

/** A read-only JSON endpoint under /v1/; `query` holds single-valued parameters (repeated ones are refused). */
export interface Endpoint {
  path: string;
  get: (query: Record<string, string | undefined>) => { code?: number; body: unknown } | Promise<{ code?: number; body: unknown }>;
}

/** A bad request parameter: the HTTP exporter answers 400 with its message. */
export class RequestError extends Error {
  readonly statusCode = 400;
}

export interface Monitor {
  /** also the source name its findings are stored under */
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  findings(now: number): Finding[];
  health(): MonitorHealth;
  report(now: number): ReportSection;
  endpoints?(): Endpoint[];
}

/** What exporters (HTTP, metrics, Events) may read of the agent. */
export interface AgentView {
  /** every monitor's current findings, gathered now */
  findings(): TrackedFinding[];
  /** true once every monitor that gates readiness has done its first round */
  ready(): boolean;
  health(): { ok: boolean; monitors: Record<string, MonitorHealth>; children: RestarterState[] };
  report(now: number): ReportSection[];
  endpoints(): Endpoint[];
}

/** A source switched off by configuration: the report says so, its endpoint answers 404 saying why. */
export function offMonitor(
  name: string,
  o: { text: string; json: Record<string, unknown>; endpoint?: { path: string; error: string } },
): Monitor {
  return {
    name,
    start: async () => undefined,
    stop: async () => undefined,
    findings: () => [],
    health: () => ({ ok: true, state: 'off' }),
    report: () => ({ json: o.json, text: [o.text] }),
    endpoints: () => (o.endpoint ? [{ path: o.endpoint.path, get: () => ({ code: 404, body: { error: o.endpoint!.error } }) }] : []),
  };
}
