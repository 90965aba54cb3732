import { Writable } from 'node:stream';
import pino from 'pino';
import { pinoRedactPaths, redact } from '../security/redact.js';
import type { Logger } from '../util/logger.js';
import { parseLogLevel } from './config.js';

export interface RuntimeLoggerOptions {
  /** Level spec: `info`, or `info,mcpkit::transport=debug` (per-module overrides). */
  level?: string;
  format?: 'json' | 'pretty';
  /** Where lines go: 1 (stdout, default), 2 (stderr; use it on stdio), or a writable stream. */
  destination?: 1 | 2 | NodeJS.WritableStream;
}

export interface RuntimeLogger extends Logger {
  /** A child for one part of the system; its level honours the per-module overrides. */
  module(name: string): Logger;
}

const LEVEL_NAMES: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

/** Human-readable lines for development: `12:00:00.123 INFO  [transport] message key=value`. */
function prettyStream(out: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        try {
          const {
            level,
            time,
            msg,
            module,
            pid: _pid,
            hostname: _host,
            ...rest
          } = JSON.parse(line) as Record<string, unknown>;
          const when = new Date(Number(time)).toISOString().slice(11, 23);
          const extras = Object.entries(rest)
            .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
            .join(' ');
          out.write(
            `${when} ${(LEVEL_NAMES[Number(level)] ?? String(level)).padEnd(5)} ${module ? `[${String(module)}] ` : ''}${String(msg ?? '')}${extras ? ` ${extras}` : ''}\n`,
          );
        } catch {
          out.write(`${line}\n`);
        }
      }
      callback();
    },
  });
}

/** pino with mcpkit's conventions: JSON lines, ISO time, secrets redacted, per-module levels. */
export function createRuntimeLogger(options: RuntimeLoggerOptions = {}): RuntimeLogger {
  const { level, modules } = parseLogLevel(options.level ?? 'info');
  const levels = [level, ...Object.values(modules)];
  const order = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
  const lowest = levels.reduce((a, b) => (order.indexOf(a) <= order.indexOf(b) ? a : b));
  const target = options.destination ?? 1;
  const stream =
    options.format === 'pretty'
      ? prettyStream(typeof target === 'number' ? (target === 2 ? process.stderr : process.stdout) : target)
      : typeof target === 'number'
        ? pino.destination({ dest: target, sync: false })
        : target;
  const base = pino(
    {
      level: lowest,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: pinoRedactPaths, censor: '[REDACTED]' },
      // Key-based redaction misses secrets inside error messages and stacks (connection strings, tokens).
      serializers: { err: (e: Error) => redact(pino.stdSerializers.err(e)) },
      formatters: { level: (label) => ({ level: label }) },
    },
    stream as pino.DestinationStream,
  );
  // Access and audit lines have a fixed shape built by mcpkit with no secrets in it: skip the
  // path-based redaction, which re-walks ~70 paths per line and dominated the logging cost.
  const plain = pino(
    {
      level: lowest,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    stream as pino.DestinationStream,
  );
  const FIXED_SHAPE = new Set(['access', 'audit']);
  const root = base.child({}, { level }) as unknown as RuntimeLogger;
  const cache = new Map<string, Logger>();
  root.module = (name: string) => {
    let child = cache.get(name);
    if (!child) {
      child = (FIXED_SHAPE.has(name) ? plain : base).child(
        { module: name },
        { level: modules[name] ?? level },
      ) as unknown as Logger;
      cache.set(name, child);
    }
    return child;
  };
  return root;
}
