// tcpdump's kernel drop counter above zero: the agent sums it across tcpdump restarts (each child counts from 0) and
// exports the total as asymroute_capture_kernel_drops_total.

import { Registry } from 'prom-client';
import { expect, it } from 'vitest';
import { registerMetrics } from '../../agent/exposition/metrics.js';
import { Agent } from '../../agent/runtime/agent.js';
import type { CaptureEvent } from '../../agent/sources/capture.js';

it('carries kernel drops across tcpdump restarts into the metric', async () => {
  const logged: unknown[] = [];
  const agent = new Agent({
    vips: [],
    autoDetect: false,
    clientCidrs: [],
    managementCidrs: [],
    gateways: {},
    intervalMs: 60_000,
    debounceMs: 300,
    capture: { enabled: true, snaplen: 192, bufferKiB: 4096, flowCapacity: 1000, idleMs: 60_000 },
    log: (e) => logged.push(e),
  });
  const registry = new Registry();
  registerMetrics(registry, agent, { version: 'test', node: 'n' });
  // The capture's event stream, as TcpdumpCapture delivers it to the agent.
  const feed = (e: CaptureEvent) => (agent as unknown as { onCaptureEvent(e: CaptureEvent): void }).onCaptureEvent(e);
  const drops = async () => Number(/^asymroute_capture_kernel_drops_total (\d+)$/m.exec(await registry.metrics())?.[1]);
  const stats = (droppedByKernel: number): CaptureEvent => ({ type: 'stats', stats: { captured: 100, receivedByFilter: 110, droppedByKernel } });

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
  expect(agent.captureStats.lastError).toBe('exit SIGKILL');
  expect(logged).toContainEqual(expect.objectContaining({ event: 'capture-exited' }));
});
