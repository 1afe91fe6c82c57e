// Watches routes, rules, addresses and links with `ip monitor` and reports "something changed", debounced.
// iproute2 6.1 prints monitor events as text even with -j; any event line is a reason to check again.

import { spawnChild, type Child } from './child.js';
import { validateNetnsName } from './validate.js';
import { Restarter } from '../supervisor/restarter.js';

export interface NetlinkMonitorOptions {
  netns?: string;
  debounceMs?: number;
  onChange: () => void;
  onExit?: (code: number | null, stderr: string) => void;
  /** schedules restarts after an exit (backoff with jitter) */
  restarter?: Restarter;
}

const STOP_GRACE_MS = 3000;

/** `ip monitor route rule addr link`: any change to what the reply path depends on. */
export class NetlinkMonitor {
  private child: Child | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopping = false;
  private readonly restarter: Restarter;

  constructor(private readonly opts: NetlinkMonitorOptions) {
    if (opts.netns) validateNetnsName(opts.netns);
    this.restarter = opts.restarter ?? new Restarter('ip-monitor', { initialMs: 2000, maxMs: 60_000, healthyAfterMs: 60_000 });
  }

  get running(): boolean {
    return this.child !== null && this.child.proc.exitCode === null;
  }

  get restarts(): number {
    return this.restarter.state.restarts;
  }

  start(): void {
    this.stopping = false;
    const args = [...(this.opts.netns ? ['-n', this.opts.netns] : []), 'monitor', 'route', 'rule', 'addr', 'link'];
    const child = spawnChild('ip', args, { LC_ALL: 'C' });
    this.child = child;
    this.restarter.running();
    let stderr = '';
    child.proc.stdout?.on('data', (d: Buffer) => {
      if (!/^\S/m.test(String(d))) return;
      if (this.timer) clearTimeout(this.timer);
      this.timer = setTimeout(() => {
        this.timer = null;
        this.opts.onChange();
      }, this.opts.debounceMs ?? 300);
    });
    child.proc.stderr?.on('data', (d: Buffer) => (stderr = (stderr + String(d)).slice(-2000)));
    void child.done.then((r) => {
      if (this.child !== child) return;
      this.child = null;
      this.opts.onExit?.(r.exitCode ?? null, stderr.trim());
      if (!this.stopping) this.restarter.failed(stderr.trim() || `exit ${r.exitCode ?? r.signal ?? r.code}`, () => this.start());
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.restarter.stop();
    if (this.timer) clearTimeout(this.timer);
    const c = this.child;
    this.child = null;
    if (!c) return;
    c.proc.kill('SIGTERM');
    // A child that ignores SIGTERM is killed after a grace period, so stop() always ends.
    const grace = setTimeout(() => c.proc.kill('SIGKILL'), STOP_GRACE_MS);
    await c.done;
    clearTimeout(grace);
  }
}
