import { ErrorCode } from '../../protocol/errors.js';
import {
  DEFAULT_MAX_JSON_DEPTH,
  type JsonRpcErrorResponse,
  errorResponse,
  parseJson,
} from '../../protocol/jsonrpc.js';

export const DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024;

export interface FramerSink {
  message(value: unknown): void;
  error(error: JsonRpcErrorResponse): void;
}

/**
 * Newline-delimited JSON framing for stdio. Bytes are kept as Buffers until a newline
 * arrives so multi-byte UTF-8 characters split across chunks decode correctly, and a line
 * longer than the limit is dropped (with one error) instead of growing memory without bound.
 */
export class LineFramer {
  private chunks: Buffer[] = [];
  private size = 0;
  private discarding = false;

  constructor(
    private readonly sink: FramerSink,
    private readonly maxLineBytes = DEFAULT_MAX_LINE_BYTES,
    private readonly maxDepth = DEFAULT_MAX_JSON_DEPTH,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl < 0) break;
      this.take(chunk.subarray(start, nl), true);
      start = nl + 1;
    }
    if (start < chunk.length) this.take(chunk.subarray(start), false);
  }

  private take(part: Buffer, complete: boolean): void {
    if (this.discarding) {
      if (complete) this.discarding = false;
      return;
    }
    if (this.size + part.length > this.maxLineBytes) {
      this.chunks = [];
      this.size = 0;
      this.discarding = !complete;
      this.sink.error(
        errorResponse(null, ErrorCode.ParseError, `Message larger than ${this.maxLineBytes} bytes`),
      );
      return;
    }
    if (!complete) {
      this.chunks.push(Buffer.from(part));
      this.size += part.length;
      return;
    }
    let line: Buffer;
    if (this.chunks.length === 0) line = part;
    else {
      this.chunks.push(part);
      line = Buffer.concat(this.chunks, this.size + part.length);
      this.chunks = [];
      this.size = 0;
    }
    let text = line.toString('utf8');
    if (text.endsWith('\r')) text = text.slice(0, -1);
    if (text.trim().length === 0) return;
    const parsed = parseJson(text, this.maxDepth);
    if (parsed.ok) this.sink.message(parsed.value);
    else this.sink.error(parsed.error);
  }

  /** Whatever is buffered when the stream ends is an incomplete message. */
  end(): void {
    if (this.size > 0 && !this.discarding) {
      const text = Buffer.concat(this.chunks).toString('utf8');
      this.chunks = [];
      this.size = 0;
      if (text.trim().length > 0) {
        const parsed = parseJson(text, this.maxDepth);
        if (parsed.ok) this.sink.message(parsed.value);
        else this.sink.error(parsed.error);
      }
    }
  }
}

/** Serialises one message as a line; JSON.stringify never emits raw newlines. */
export function frame(message: unknown): string {
  return `${JSON.stringify(message)}\n`;
}
