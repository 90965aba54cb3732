import { type ChildProcess, spawn } from 'node:child_process';
import { InvalidOptionError } from '../../protocol/errors.js';
import type { JsonRpcMessage } from '../../protocol/jsonrpc.js';
import type { Transport } from '../types.js';
import { DEFAULT_MAX_LINE_BYTES, LineFramer, frame } from './framer.js';

export interface StdioClientTransportOptions {
  command: string;
  args?: readonly string[];
  env?: Record<string, string>;
  cwd?: string;
  /** What to do with the server's stderr (its log channel): inherit (default), pipe, or ignore. */
  stderr?: 'inherit' | 'pipe' | 'ignore';
  maxMessageBytes?: number;
  /** Grace period between closing stdin, SIGTERM and SIGKILL on close (spec: stdio shutdown). */
  killTimeoutMs?: number;
}

/** Env vars safe to pass to a child by default (the rest of the parent env may hold secrets). */
const DEFAULT_ENV_KEYS = [
  'HOME',
  'LOGNAME',
  'PATH',
  'SHELL',
  'TERM',
  'USER',
  'LANG',
  'TMPDIR',
  'NODE_OPTIONS',
];

/** Launches an MCP server as a child process and speaks newline-delimited JSON-RPC over its stdio. */
export class StdioClientTransport implements Transport {
  onmessage: Transport['onmessage'];
  onparseerror: Transport['onparseerror'];
  onerror: Transport['onerror'];
  onclose: Transport['onclose'];
  private child: ChildProcess | undefined;
  private closed = false;
  private readonly options: StdioClientTransportOptions;

  constructor(options: StdioClientTransportOptions) {
    if (typeof options?.command !== 'string' || options.command.length === 0) {
      throw new InvalidOptionError('command', 'must be a non-empty string');
    }
    this.options = options;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get stderr() {
    return this.child?.stderr ?? null;
  }

  async start(): Promise<void> {
    const env: Record<string, string> = {};
    for (const key of DEFAULT_ENV_KEYS) {
      const value = process.env[key];
      if (value !== undefined) env[key] = value;
    }
    Object.assign(env, this.options.env);
    const child = spawn(this.options.command, this.options.args ?? [], {
      env,
      cwd: this.options.cwd,
      stdio: ['pipe', 'pipe', this.options.stderr ?? 'inherit'],
      windowsHide: true,
    });
    this.child = child;
    const framer = new LineFramer(
      { message: (value) => this.onmessage?.(value), error: (error) => this.onparseerror?.(error) },
      this.options.maxMessageBytes ?? DEFAULT_MAX_LINE_BYTES,
    );
    child.stdout?.on('data', (chunk: Buffer) => framer.push(chunk));
    child.stdin?.on('error', (err) => this.onerror?.(err));
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', () => resolve());
      child.once('error', (err) => {
        reject(err);
        this.onerror?.(err);
      });
    });
    child.once('exit', () => this.finish());
  }

  async send(message: JsonRpcMessage): Promise<void> {
    const stdin = this.child?.stdin;
    if (this.closed || !stdin || stdin.destroyed) throw new Error('stdio transport is closed');
    if (!stdin.write(frame(message))) await new Promise<void>((resolve) => stdin.once('drain', resolve));
  }

  /** Closes stdin, then escalates to SIGTERM and SIGKILL if the server does not exit. */
  async close(): Promise<void> {
    const child = this.child;
    if (!child || this.closed) return this.finish();
    const grace = this.options.killTimeoutMs ?? 2000;
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    child.stdin?.end();
    const waitOr = (ms: number) =>
      Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(r, ms, false).unref())]);
    if (!(await waitOr(grace))) {
      child.kill('SIGTERM');
      if (!(await waitOr(grace))) child.kill('SIGKILL');
    }
    await exited;
    this.finish();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.onclose?.();
  }
}
