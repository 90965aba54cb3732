// Shared by the bench server processes: the one tool every implementation serves, and the
// memory/debug reporting the harness reads (never on the measured path except one URL compare).
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';

/**
 * Imports a built mcpkit module, e.g. `importMcpkit('server/server.js')`: from the harness's private
 * snapshot when MCPKIT_BENCH_DIST is set, else from this repo's dist/.
 */
export function importMcpkit(path) {
  const base = process.env.MCPKIT_BENCH_DIST;
  return import(
    base
      ? pathToFileURL(join(base, 'src', path)).href
      : new URL(`../../dist/src/${path}`, import.meta.url).href
  );
}

export const TOOL_NAME = 'add';
export const TOOL_DESCRIPTION = 'adds two numbers';
export const addSchema = () => z.object({ a: z.number(), b: z.number() });

export function argValue(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

/** Heap/RSS snapshot, after a full GC when the process runs with --expose-gc. */
export function memorySnapshot() {
  if (typeof globalThis.gc === 'function') {
    // Two passes: the first can leave weakly-held and finalizer-pending objects behind.
    globalThis.gc();
    globalThis.gc();
  }
  const m = process.memoryUsage();
  return {
    rss: m.rss,
    heapUsed: m.heapUsed,
    heapTotal: m.heapTotal,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
  };
}
