import type { Readable, Writable } from 'node:stream';
import type { JsonRpcMessage } from '../../protocol/jsonrpc.js';
import type { Transport } from '../types.js';
import { DEFAULT_MAX_LINE_BYTES, LineFramer, frame } from './framer.js';

export interface StdioServerTransportOptions {
  stdin?: Readable;
  stdout?: Writable;
  maxMessageBytes?: number;
}

/**
 * The server end of stdio: reads newline-delimited JSON-RPC from stdin, writes to stdout.
 * Writes respect backpressure, so a client that stops reading bounds our memory.
 */
export class StdioServerTransport implements Transport {
  onmessage: Transport['onmessage'];
  onparseerror: Transport['onparseerror'];
  onerror: Transport['onerror'];
  onclose: Transport['onclose'];
  private readonly stdin: Readable;
  private readonly stdout: Writable;
  private readonly framer: LineFramer;
  private closed = false;
  private draining: Promise<void> | undefined;

  constructor(options: StdioServerTransportOptions = {}) {
    this.stdin = options.stdin ?? process.stdin;
    this.stdout = options.stdout ?? process.stdout;
    this.framer = new LineFramer(
      { message: (value) => this.onmessage?.(value), error: (error) => this.onparseerror?.(error) },
      options.maxMessageBytes ?? DEFAULT_MAX_LINE_BYTES,
    );
  }

  private readonly onData = (chunk: Buffer | string) =>
    this.framer.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  private readonly onEnd = () => {
    this.framer.end();
    void this.close();
  };
  private readonly onError = (err: Error) => this.onerror?.(err);

  async start(): Promise<void> {
    this.stdin.on('data', this.onData);
    this.stdin.on('end', this.onEnd);
    this.stdin.on('error', this.onError);
    this.stdout.on('error', this.onError);
  }

  async send(message: JsonRpcMessage): Promise<void> {
    if (this.closed) throw new Error('stdio transport is closed');
    if (this.draining) await this.draining;
    if (!this.stdout.write(frame(message))) {
      this.draining ??= new Promise<void>((resolve) => {
        const done = () => {
          this.stdout.off('drain', done);
          this.stdout.off('close', done);
          this.draining = undefined;
          resolve();
        };
        this.stdout.once('drain', done);
        this.stdout.once('close', done);
      });
      await this.draining;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stdin.off('data', this.onData);
    this.stdin.off('end', this.onEnd);
    this.stdin.off('error', this.onError);
    this.stdin.pause();
    this.onclose?.();
  }
}
