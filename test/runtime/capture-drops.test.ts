// tcpdump's kernel drop counter above zero: the capture monitor sums it across tcpdump restarts (each child counts
// from 0) and exports the total as asymroute_capture_kernel_drops_total.

import { expect, it } from 'vitest';
import { agentRegistry } from '../../agent/exposition/metrics.js';
import { CaptureMonitor } from '../../agent/capture/capture-monitor.js';
import type { CaptureEvent } from '../../agent/capture/tcpdump.js';
import { IpRunner } from '../../agent/sources/ip-command.js';
import { LinkNames } from '../../agent/sources/link-names.js';
import { Supervisor } from '../../agent/supervisor/restarter.js';

it('carries kernel drops across tcpdump restarts into the metric', async () => {
  const logged: unknown[] = [];
  const registry = agentRegistry({ version: 'test', node: 'n' });
  const capture = new CaptureMonitor({
    capture: { enabled: true, snaplen: 192, bufferKiB: 4096, flowCapacity: 1000, idleMs: 60_000 },
    names: new LinkNames(new IpRunner()),
    log: (e) => logged.push(e),
    registry,
    restarter: new Supervisor().restarter('tcpdump', { initialMs: 1000, maxMs: 1000 }),
    staticVip: () => null,
    changed: () => undefined,
  });
  // The capture's event stream, as TcpdumpCapture delivers it to the monitor.
  const feed = (e: CaptureEvent) => capture.onCaptureEvent(e);
  const drops = async () => Number(/^asymroute_capture_kernel_drops_total (\d+)$/m.exec(await registry.metrics())?.[1]);
  const stats = (droppedByKernel: number): CaptureEvent => ({
    type: 'stats',
    stats: { captured: 100, receivedByFilter: 110, droppedByKernel },
  });

  expect(await drops()).toBe(0);
  feed(stats(5));
  expect(await drops()).toBe(5);
  feed(stats(8));
  expect(await drops()).toBe(8);
  feed({ type: 'exited', code: null, signal: 'SIGKILL', stderr: '', restartInMs: 200 });
  expect(await drops()).toBe(8);
  // The restarted child counts from zero again.
  feed(stats(3));
  expect(await drops()).toBe(11);
  expect(capture.captureStats.lastError).toBe('exit SIGKILL');
  expect(logged).toContainEqual(expect.objectContaining({ event: 'capture-exited' }));
});
