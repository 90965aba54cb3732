// Process helpers shared by the nginx / HAProxy / Prometheus harnesses: free ports, bounded waits,
// a self-signed certificate, and a child process that is always reaped.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to completion (bounded by timeoutMs); never rejects on a non-zero exit. */
export function run(command: string, args: readonly string[], timeoutMs = 15_000): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    execFile(command, args, { timeout: timeoutMs, maxBuffer: 8 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
          reject(new Error(`${command} is not installed`));
          return;
        }
        resolvePromise({ code: null, stdout, stderr: `${stderr}${error.message}` });
        return;
      }
      resolvePromise({ code: error ? (error.code as number) : 0, stdout, stderr });
    });
  });
}

/** True when `command` can be executed (used to skip checks whose tool is absent, with a reason). */
export async function hasCommand(command: string, args: readonly string[] = ['--version']): Promise<boolean> {
  try {
    const result = await run(command, args, 10_000);
    return result.code === 0;
  } catch {
    return false;
  }
}

/** A loopback port that was free a moment ago; callers retry if someone else takes it first. */
export function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolvePromise(address.port);
        else reject(new Error('could not allocate a loopback port'));
      });
    });
  });
}

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  // nginx workers drop to an unprivileged user when started as root and must reach their temp paths.
  chmodSync(dir, 0o755);
  return dir;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export interface SelfSignedCert {
  readonly certPath: string;
  readonly keyPath: string;
  /** Certificate followed by key, the single-file form HAProxy's `crt` wants. */
  readonly pemPath: string;
  readonly certPem: string;
}

/** A throwaway P-256 certificate for localhost / 127.0.0.1, made with the openssl binary. */
export async function selfSignedCert(dir: string): Promise<SelfSignedCert> {
  const certPath = join(dir, 'tls.crt');
  const keyPath = join(dir, 'tls.key');
  const pemPath = join(dir, 'tls.pem');
  const result = await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=localhost',
    '-addext',
    'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-keyout',
    keyPath,
    '-out',
    certPath,
  ]);
  if (result.code !== 0) throw new Error(`openssl failed: ${result.stderr}`);
  const certPem = readFileSync(certPath, 'utf8');
  writeFileSync(pemPath, certPem + readFileSync(keyPath, 'utf8'), { mode: 0o600 });
  return { certPath, keyPath, pemPath, certPem };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolvePromise(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export interface Service {
  readonly child: ChildProcess;
  /** Everything the process wrote so far (stdout and stderr), for error messages. */
  output(): string;
  stop(): Promise<void>;
}

export interface SpawnServiceOptions {
  /** Ports that must accept TCP connections before the service counts as started. */
  readonly ports: readonly number[];
  readonly timeoutMs?: number;
  /** Signal for a quick stop; SIGKILL follows after killAfterMs. */
  readonly stopSignal?: NodeJS.Signals;
  readonly killAfterMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Spawns a foreground server process and resolves once every port listens. Rejects (after killing
 * the child) if it exits first or the deadline passes, with the process output in the message.
 */
export async function spawnService(
  command: string,
  args: readonly string[],
  options: SpawnServiceOptions,
): Promise<Service> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    if (output.length < 64 * 1024) output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    if (output.length < 64 * 1024) output += chunk.toString();
  });
  let exited = false;
  const exit = new Promise<void>((resolvePromise) => {
    child.once('exit', () => {
      exited = true;
      resolvePromise();
    });
    child.once('error', (error) => {
      output += `\n${error.message}`;
      exited = true;
      resolvePromise();
    });
  });

  const stop = async () => {
    if (exited) return;
    child.kill(options.stopSignal ?? 'SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), options.killAfterMs ?? 3_000);
    await exit;
    clearTimeout(killer);
  };

  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  for (;;) {
    if (exited) throw new Error(`${command} exited during start-up:\n${output}`);
    const ready = await Promise.all(options.ports.map(canConnect));
    if (ready.every(Boolean)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${command} did not listen on ${options.ports.join(', ')} in time:\n${output}`);
    }
    await sleep(50);
  }
  return { child, output: () => output, stop };
}

/** Retries a start-up that may lose a port race; other failures surface at once. */
export async function withPortRetry<T>(attempt: () => Promise<T>, tries = 3): Promise<T> {
  let lastError: unknown;
  for (let i = 0; i < tries; i++) {
    try {
      return await attempt();
    } catch (error) {
      lastError = error;
      if (!/address already in use|cannot bind socket|did not listen/i.test(String(error))) throw error;
    }
  }
  throw lastError;
}
