// The agent's log: one JSON object per line through pino, each with a level, an ISO time and the record's `event`.
// Monitors log plain records; the level comes from the record (an explicit `level`, or what it carries), so no
// monitor depends on the logger.

import { pino, type Level } from 'pino';

export type LogRecord = Record<string, unknown>;
export type Log = (rec: LogRecord) => void;

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const EVENT_LEVEL: Record<string, Level> = {
  'capture-stats': 'debug',
  'capture-started': 'debug',
  'capture-exited': 'warn',
  'capture-format-error': 'warn',
  'capture-stop-failed': 'error',
  'start-failed': 'error',
};

/** A record's level: its own `level`, else by event, else warn when it carries an error or a warning, else info. */
export function levelOf(rec: LogRecord): Level {
  const own = rec['level'];
  if (typeof own === 'string' && (LOG_LEVELS as readonly string[]).includes(own) && own !== 'silent') return own as Level;
  const event = String(rec['event'] ?? '');
  if (event === 'finding-raised') return rec['severity'] === 'critical' ? 'error' : rec['severity'] === 'warning' ? 'warn' : 'info';
  if (event === 'capture-linktype') return rec['ok'] === false ? 'error' : 'info';
  const byEvent = EVENT_LEVEL[event];
  if (byEvent) return byEvent;
  if ('error' in rec || 'warning' in rec || event.endsWith('-failed')) return 'warn';
  return 'info';
}

/** A Log that writes through pino at `level` and above, each line handed to `write` (stdout in the agent). */
export function createLog(level: LogLevel, write: (line: string) => void, base: LogRecord = {}): Log {
  const logger = pino(
    {
      level,
      base,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    { write },
  );
  return (rec) => {
    const { level: _level, ...rest } = rec;
    logger[levelOf(rec)](rest);
  };
}
