// Backoff with jitter for every restarted child and watch: the delays double up to the cap, each drawn from
// [d * (1 - jitter), d]; a healthy run starts again from the first delay; stop() cancels a scheduled attempt.

import { expect, it, vi } from 'vitest';
import { Restarter, Supervisor } from '../../agent/supervisor/restarter.js';

it('doubles up to the cap, jittered downwards by at most the jitter share', () => {
  vi.useFakeTimers();
  try {
    const draws = [0, 0.999, 0.5, 0.25, 0];
    const r = new Restarter('x', { initialMs: 100, maxMs: 500, jitter: 0.5, random: () => draws.shift()! });
    const delays = [1, 2, 3, 4, 5].map(() => r.failed('boom', () => undefined));
    // un-jittered: 100, 200, 400, 500, 500
    expect(delays).toEqual([100, 100, 300, 438, 500]);
    expect(r.state).toMatchObject({ state: 'waiting', failures: 5, lastError: 'boom', backoffMs: 500 });
  } finally {
    vi.useRealTimers();
  }
});

it('spreads many restarters over the window instead of one moment (what a DaemonSet relisting needs)', () => {
  vi.useFakeTimers();
  try {
    const delays = Array.from({ length: 200 }, (_, i) =>
      new Restarter(`w${i}`, { initialMs: 1000, maxMs: 1000 }).failed('api down', () => undefined),
    );
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(500);
    expect(Math.max(...delays)).toBeLessThanOrEqual(1000);
    // 200 draws from [500, 1000]: far from all the same.
    expect(new Set(delays).size).toBeGreaterThan(100);
  } finally {
    vi.useRealTimers();
  }
});

it('runs the attempt after the delay, counts it, and a healthy run resets the backoff', () => {
  vi.useFakeTimers();
  try {
    const sup = new Supervisor();
    const r = sup.restarter('ip-monitor', { initialMs: 100, maxMs: 10_000, healthyAfterMs: 1000, random: () => 0 });
    let attempts = 0;
    r.running();
    expect(r.failed('exit 1', () => attempts++)).toBe(100);
    vi.advanceTimersByTime(99);
    expect(attempts).toBe(0);
    vi.advanceTimersByTime(1);
    expect(attempts).toBe(1);
    r.running();
    expect(r.failed('exit 1', () => attempts++)).toBe(200);
    vi.advanceTimersByTime(200);
    r.running();
    vi.advanceTimersByTime(1000);
    // Ran for 1 s: healthy, so the next failure starts from the first delay again.
    expect(r.failed('exit 1', () => attempts++)).toBe(100);
    expect(sup.states()).toEqual([expect.objectContaining({ name: 'ip-monitor', restarts: 2, failures: 3, state: 'waiting' })]);
  } finally {
    vi.useRealTimers();
  }
});

it('stop() cancels the scheduled attempt', () => {
  vi.useFakeTimers();
  try {
    const r = new Restarter('tcpdump', { initialMs: 100, maxMs: 100 });
    let attempts = 0;
    r.failed('exit 1', () => attempts++);
    r.stop();
    vi.advanceTimersByTime(1000);
    expect(attempts).toBe(0);
    expect(r.state.state).toBe('stopped');
  } finally {
    vi.useRealTimers();
  }
});
