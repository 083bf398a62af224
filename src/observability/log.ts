// Structured JSON logs on stderr (pino), human-readable when stderr is a terminal.
import { destination, pino, stdTimeFunctions, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

export function createLogger(level = process.env.HITLESS_LOG_LEVEL ?? 'info'): Logger {
  const options = { level, base: { pid: process.pid }, timestamp: stdTimeFunctions.isoTime };
  if (process.stderr.isTTY) {
    return pino(options, pretty({ destination: 2, sync: true, colorize: true, ignore: 'pid,hostname' }));
  }
  return pino(options, destination({ dest: 2, sync: true }));
}

/** A logger that drops everything: for tests and embedded use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
