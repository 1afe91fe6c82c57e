// The agent's log lines: JSON through pino, a level on every line, filtered by --log-level, transitions keep `event`.

import { describe, expect, it } from 'vitest';
import { createLog, levelOf } from '../../agent/runtime/log.js';

function capture(level: Parameters<typeof createLog>[0]) {
  const lines: string[] = [];
  const log = createLog(level, (l) => lines.push(l));
  return { log, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>), lines };
}

describe('log', () => {
  it('writes one JSON object per line with level, ISO time and the record, in order', () => {
    const c = capture('info');
    c.log({ event: 'listening', port: 9472 });
    c.log({ event: 'finding-raised', id: 'x', type: 'reply-path-asymmetric', severity: 'critical', vip: '192.0.2.1' });
    c.log({ event: 'bgp-poll-failed', error: 'spawn ss EMFILE' });
    expect(c.lines.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n'))).toBe(true);
    const r = c.records();
    expect(r.map((x) => [x['level'], x['event']])).toEqual([
      ['info', 'listening'],
      ['error', 'finding-raised'],
      ['warn', 'bgp-poll-failed'],
    ]);
    expect(r[0]).toMatchObject({ port: 9472 });
    expect(String(r[0]!['time'])).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(r[1]).toMatchObject({ id: 'x', type: 'reply-path-asymmetric', vip: '192.0.2.1' });
  });

  it('drops lines below the level, and writes nothing when silent', () => {
    const warn = capture('warn');
    warn.log({ event: 'listening' });
    warn.log({ event: 'capture-stats', stats: {} });
    warn.log({ event: 'check-failed', error: 'boom' });
    expect(warn.records().map((x) => x['event'])).toEqual(['check-failed']);
    const debug = capture('debug');
    debug.log({ event: 'capture-stats', stats: {} });
    expect(debug.records().map((x) => x['level'])).toEqual(['debug']);
    const silent = capture('silent');
    silent.log({ event: 'start-failed', error: 'x' });
    expect(silent.lines).toEqual([]);
  });

  it('takes the level from the record', () => {
    expect(levelOf({ event: 'x', level: 'debug' })).toBe('debug');
    expect(levelOf({ event: 'x', level: 'silent' })).toBe('info');
    expect(levelOf({ event: 'finding-raised', severity: 'warning' })).toBe('warn');
    expect(levelOf({ event: 'finding-raised', severity: 'info' })).toBe('info');
    expect(levelOf({ event: 'finding-cleared', severity: 'critical' })).toBe('info');
    expect(levelOf({ event: 'capture-linktype', ok: false })).toBe('error');
    expect(levelOf({ event: 'capture-linktype', ok: true })).toBe('info');
    expect(levelOf({ event: 'children-unbound', warning: 'w' })).toBe('warn');
    expect(levelOf({ event: 'arp-probe-failed' })).toBe('warn');
    expect(levelOf({ event: 'capture-stop-failed' })).toBe('error');
    expect(levelOf({ event: 'shutdown' })).toBe('info');
  });
});
