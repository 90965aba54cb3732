import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from '../conformance/run-suite.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const EVERYTHING = `${ROOT}dist/examples/everything/main.js`;

export interface Proc {
  child: ChildProcess;
  port: number;
  stdout: string[];
  stderr: () => string;
  exited: Promise<number | null>;
  waitForLog(
    predicate: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  jsonLines(): Record<string, unknown>[];
}

/** Starts a built entry point as a user would (`node <file>` with env), collecting its log lines. */
export async function startProcess(
  env: Record<string, string> = {},
  file = EVERYTHING,
  args: string[] = [],
): Promise<Proc> {
  const port = env.MCP_SERVER_PORT ? Number(env.MCP_SERVER_PORT) : await freePort();
  const child = spawn(process.execPath, [file, ...args], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      MCP_SERVER_HOST: '127.0.0.1',
      MCP_SERVER_PORT: String(port),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  let partial = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => {
    partial += d.toString();
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    stdout.push(...lines.filter(Boolean));
  });
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const jsonLines = () =>
    stdout.flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  return {
    child,
    port,
    stdout,
    stderr: () => err,
    exited,
    jsonLines,
    async waitForLog(predicate, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const hit = jsonLines().find(predicate);
        if (hit) return hit;
        if (child.exitCode !== null) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`log line not found; stdout:\n${stdout.join('\n')}\nstderr:\n${err}`);
    },
  };
}
