// Interface index -> name for the capture's packets, from `ip -j link` in the same namespace. An index it does not
// know triggers a refresh (at most one at a time, and not more often than minIntervalMs).

import { parseLinks } from '../parsers/ip-json.js';
import { IpRunner } from './ip-command.js';

export class LinkNames {
  private names = new Map<number, string>();
  private refreshing: Promise<void> | null = null;
  private lastRefresh = 0;
  refreshes = 0;

  constructor(
    private readonly ip: IpRunner,
    private readonly opts: { minIntervalMs?: number; onChange?: () => void } = {},
  ) {}

  async refresh(): Promise<void> {
    this.lastRefresh = Date.now();
    this.refreshes++;
    const links = parseLinks(await this.ip.json(['link', 'show']));
    this.names = new Map(links.map((l) => [l.ifindex, l.name]));
    this.opts.onChange?.();
  }

  /** The name, or null while unknown (a refresh is then under way; onChange fires when it is done). */
  name(ifindex: number): string | null {
    const n = this.names.get(ifindex);
    if (n !== undefined) return n;
    if (!this.refreshing && Date.now() - this.lastRefresh >= (this.opts.minIntervalMs ?? 1000)) {
      this.refreshing = this.refresh()
        .catch(() => undefined)
        .finally(() => (this.refreshing = null));
    }
    return null;
  }

  /** Waits for a refresh under way, if any. */
  async settled(): Promise<void> {
    await this.refreshing;
  }
}
