// Exponential backoff with jitter for anything that is restarted: the tcpdump child, `ip monitor`, each Kubernetes
// list+watch. Jitter keeps a DaemonSet's pods from all relisting at the same moment after an API outage.

export interface BackoffOptions {
  /** first delay; doubles after each failure up to maxMs */
  initialMs: number;
  maxMs: number;
  /** a run that lasted this long counts as healthy: the next failure starts again from initialMs */
  healthyAfterMs?: number;
  /** 0..1: the delay is drawn from [d * (1 - jitter), d] (default 0.5) */
  jitter?: number;
  /** for tests: returns [0, 1) */
  random?: () => number;
}

export interface RestarterState {
  name: string;
  /** running, waiting (a restart is scheduled), stopped, never-started */
  state: 'running' | 'waiting' | 'stopped' | 'never-started';
  restarts: number;
  failures: number;
  lastError: string | null;
  lastFailureAt: string | null;
  /** when the next attempt runs, while waiting */
  nextAttemptAt: string | null;
  /** the un-jittered delay the next failure will use */
  backoffMs: number;
}

export interface RestarterHooks {
  onFailure?: (s: RestarterState, delayMs: number) => void;
  onRestart?: (s: RestarterState) => void;
}

/** One restarted thing: report `running()` when it runs and `failed()` when it stops; the restart is scheduled here. */
export class Restarter {
  private backoff: number;
  private timer: NodeJS.Timeout | null = null;
  private startedAt: number | null = null;
  private readonly s: RestarterState;

  constructor(
    name: string,
    private readonly opts: BackoffOptions,
    private readonly hooks: RestarterHooks = {},
  ) {
    this.backoff = opts.initialMs;
    this.s = {
      name,
      state: 'never-started',
      restarts: 0,
      failures: 0,
      lastError: null,
      lastFailureAt: null,
      nextAttemptAt: null,
      backoffMs: opts.initialMs,
    };
  }

  get state(): Readonly<RestarterState> {
    return this.s;
  }

  running(): void {
    this.startedAt = Date.now();
    this.s.state = 'running';
    this.s.nextAttemptAt = null;
  }

  /** A healthy run (long enough, or a successful list) resets the backoff. */
  healthy(): void {
    this.backoff = this.opts.initialMs;
    this.s.backoffMs = this.backoff;
  }

  /** Schedules `attempt` after the jittered backoff and returns the delay. */
  failed(error: string, attempt: () => void): number {
    const now = Date.now();
    if (this.startedAt !== null && this.opts.healthyAfterMs !== undefined && now - this.startedAt >= this.opts.healthyAfterMs)
      this.healthy();
    this.startedAt = null;
    const jitter = Math.min(1, Math.max(0, this.opts.jitter ?? 0.5));
    const delay = Math.round(this.backoff * (1 - jitter * (this.opts.random ?? Math.random)()));
    this.backoff = Math.min(this.backoff * 2, this.opts.maxMs);
    this.s.failures++;
    this.s.lastError = error;
    this.s.lastFailureAt = new Date(now).toISOString();
    this.s.state = 'waiting';
    this.s.nextAttemptAt = new Date(now + delay).toISOString();
    this.s.backoffMs = this.backoff;
    this.hooks.onFailure?.(this.s, delay);
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.s.restarts++;
      this.hooks.onRestart?.(this.s);
      attempt();
    }, delay);
    this.timer.unref();
    return delay;
  }

  /** Cancels a scheduled attempt: what it restarts was stopped on purpose (a later running() picks up again). */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.s.state = 'stopped';
    this.s.nextAttemptAt = null;
  }
}

/** Hands out restarters and keeps them all, for /healthz and the metrics. */
export class Supervisor {
  private readonly all = new Map<string, Restarter>();

  constructor(private readonly hooks: RestarterHooks = {}) {}

  restarter(name: string, opts: BackoffOptions): Restarter {
    const r = new Restarter(name, opts, this.hooks);
    this.all.set(name, r);
    return r;
  }

  states(): RestarterState[] {
    return [...this.all.values()].map((r) => ({ ...r.state }));
  }
}
