/** One server-sent event. */
export interface SseEvent {
  event: string;
  data: string;
  id: string | undefined;
  retry: number | undefined;
}

/**
 * Incremental text/event-stream parser (WHATWG rules: CRLF/LF/CR line ends, multi-line
 * data joined with LF, comments ignored). Bounded: an event larger than `maxEventBytes`
 * is an error rather than unbounded buffering.
 */
export class SseParser {
  private buffer = '';
  private data: string[] = [];
  private dataBytes = 0;
  private event = '';
  private id: string | undefined;
  private retry: number | undefined;
  lastEventId: string | undefined;

  constructor(
    private readonly onEvent: (event: SseEvent) => void,
    private readonly maxEventBytes = 16 * 1024 * 1024,
  ) {}

  push(text: string): void {
    this.buffer += text;
    let start = 0;
    for (;;) {
      let end = -1;
      let next = -1;
      for (let i = start; i < this.buffer.length; i++) {
        const c = this.buffer.charCodeAt(i);
        if (c === 10) {
          end = i;
          next = i + 1;
          break;
        }
        if (c === 13) {
          if (i + 1 >= this.buffer.length) break; // wait: it may be CRLF
          end = i;
          next = this.buffer.charCodeAt(i + 1) === 10 ? i + 2 : i + 1;
          break;
        }
      }
      if (end < 0) break;
      this.line(this.buffer.slice(start, end));
      start = next;
    }
    this.buffer = this.buffer.slice(start);
    if (this.buffer.length > this.maxEventBytes) throw new Error('SSE line exceeds the size limit');
  }

  private line(line: string): void {
    if (line === '') {
      this.dispatch();
      return;
    }
    if (line.charCodeAt(0) === 58 /* : */) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case 'data':
        this.dataBytes += value.length;
        if (this.dataBytes > this.maxEventBytes) throw new Error('SSE event exceeds the size limit');
        this.data.push(value);
        break;
      case 'event':
        this.event = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.id = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retry = Number(value);
        break;
    }
  }

  private dispatch(): void {
    if (this.id !== undefined) this.lastEventId = this.id;
    if (this.data.length > 0) {
      this.onEvent({
        event: this.event || 'message',
        data: this.data.join('\n'),
        id: this.id,
        retry: this.retry,
      });
    } else if (this.retry !== undefined) {
      this.onEvent({ event: '', data: '', id: this.id, retry: this.retry });
    }
    this.data = [];
    this.dataBytes = 0;
    this.event = '';
    this.id = undefined;
    this.retry = undefined;
  }
}
