// Watches routes, rules, addresses and links with `ip monitor` and reports "something changed", debounced.
// iproute2 6.1 prints monitor events as text even with -j; any event line is a reason to check again.

import { spawnChild, type Child } from './child.js';
import { validateNetnsName } from './validate.js';

export interface MonitorOptions {
  netns?: string;
  debounceMs?: number;
  onChange: () => void;
  onExit?: (code: number | null, stderr: string) => void;
}

export class RouteMonitor {
  private child: Child | null = null;
  private timer: NodeJS.Timeout | null = null;
  private restartTimer: NodeJS.Timeout | null = null;
  private stopping = false;
  events = 0;
  restarts = 0;

  constructor(private readonly opts: MonitorOptions) {
    if (opts.netns) validateNetnsName(opts.netns);
  }

  get running(): boolean {
    return this.child !== null && this.child.proc.exitCode === null;
  }

  start(): void {
    const args = [...(this.opts.netns ? ['-n', this.opts.netns] : []), 'monitor', 'route', 'rule', 'addr', 'link'];
    const child = spawnChild('ip', args, { LC_ALL: 'C' });
    this.child = child;
    let stderr = '';
    child.proc.stdout?.on('data', (d: Buffer) => {
      if (!/^\S/m.test(String(d))) return;
      this.events++;
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
      if (!this.stopping) {
        this.restartTimer = setTimeout(() => {
          this.restarts++;
          this.start();
        }, 2000);
        this.restartTimer.unref();
      }
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const c = this.child;
    this.child = null;
    if (c) {
      c.proc.kill('SIGTERM');
      await c.done;
    }
  }
}
