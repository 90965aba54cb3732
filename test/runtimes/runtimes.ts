import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const EXE = process.platform === 'win32' ? '.exe' : '';

export interface Runtime {
  name: 'bun' | 'deno';
  binary: string;
  /** Arguments before the script path: how the runtime runs the TypeScript sources directly. */
  run: string[];
  present: boolean;
}

/**
 * The binaries the npm packages ship, run directly: `node_modules/.bin/deno` is a Node wrapper
 * that does not forward signals, so SIGTERM would kill the wrapper and orphan Deno. (The bun
 * package names its binary bun.exe on every platform.) Deno needs `--sloppy-imports` to map the
 * sources' `.js` specifiers to `.ts` files and `--node-modules-dir=manual` to use node_modules.
 */
export const RUNTIMES: Runtime[] = [
  { name: 'bun' as const, binary: join(ROOT, 'node_modules', 'bun', 'bin', 'bun.exe'), run: ['run'] },
  {
    name: 'deno' as const,
    binary: join(ROOT, 'node_modules', 'deno', `deno${EXE}`),
    run: ['run', '--allow-net', '--allow-env', '--sloppy-imports', '--node-modules-dir=manual'],
  },
].map((r) => ({ ...r, present: existsSync(r.binary) }));

export function skipMessage(runtime: Runtime): string {
  return `[runtimes] skipping ${runtime.name}: binary not found at ${runtime.binary} (install the "${runtime.name}" dev dependency)`;
}

export interface Spawned {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
}

/** Starts `script` (relative to the package root) under the runtime, in its own process group. */
export function spawnScript(runtime: Runtime, script: string, env: Record<string, string> = {}): Spawned {
  const child = spawn(runtime.binary, [...runtime.run, script], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? ROOT,
      NO_COLOR: '1',
      DENO_NO_UPDATE_CHECK: '1',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout = (stdout + chunk).slice(-65536);
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-8192);
  });
  return { child, stdout: () => stdout, stderr: () => stderr };
}

/** Resolves with the first stdout line that is a JSON object; rejects on exit or timeout first. */
export function firstJsonLine(spawned: Spawned, timeoutMs: number): Promise<Record<string, any>> {
  const { child } = spawned;
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (fn: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearInterval(poll);
      child.off('exit', onExit);
      fn();
    };
    const fail = (why: string) =>
      finish(() => reject(new Error(`${why}\nstdout: ${spawned.stdout()}\nstderr: ${spawned.stderr()}`)));
    const check = () => {
      const line = spawned
        .stdout()
        .split('\n')
        .find((l) => l.startsWith('{') && l.endsWith('}'));
      if (line) finish(() => resolve(JSON.parse(line) as Record<string, any>));
    };
    const onExit = (code: number | null, signal: string | null) => {
      check();
      fail(`exited (${code ?? signal}) before printing a JSON line`);
    };
    const timer = setTimeout(() => fail(`no JSON line within ${timeoutMs} ms`), timeoutMs);
    const poll = setInterval(check, 10);
    child.once('error', (err) => fail(`failed to start: ${err.message}`));
    child.on('exit', onExit);
  });
}

/** SIGTERM, then SIGKILL to the child's process group after 5 s; resolves with the exit code (null if killed). */
export async function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  const timer = setTimeout(() => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }, 5000);
  const code = await exited;
  clearTimeout(timer);
  return code;
}
