import { LocalError } from '../protocol/errors.js';

/**
 * Hand-rolled encoder for the Prometheus remote-write 1.0 `WriteRequest` (prompb):
 *
 *   message WriteRequest { repeated TimeSeries timeseries = 1; }
 *   message TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
 *   message Label        { string name = 1; string value = 2; }
 *   message Sample       { double value = 1; int64 timestamp = 2; }
 *
 * Two passes: sizes first, then one exact-size buffer, so encoding a batch allocates once.
 */

export interface Label {
  name: string;
  value: string;
}

export interface Sample {
  value: number;
  /** Milliseconds since the epoch. */
  timestampMs: number;
}

export interface TimeSeries {
  /** Sorted by name, `__name__` included, as remote write requires. */
  labels: readonly Label[];
  samples: readonly Sample[];
}

// Tag bytes: (field number << 3) | wire type.
const TAG_TIMESERIES = 0x0a; // WriteRequest.timeseries: 1, length-delimited
const TAG_LABEL = 0x0a; // TimeSeries.labels: 1, length-delimited
const TAG_SAMPLE = 0x12; // TimeSeries.samples: 2, length-delimited
const TAG_NAME = 0x0a; // Label.name: 1, length-delimited
const TAG_VALUE = 0x12; // Label.value: 2, length-delimited
const TAG_SAMPLE_VALUE = 0x09; // Sample.value: 1, 64-bit
const TAG_TIMESTAMP = 0x10; // Sample.timestamp: 2, varint

/** Bytes a varint of a non-negative safe integer takes (division, not bit ops: values exceed 2^32). */
export function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(buf: Uint8Array, pos: number, n: number): number {
  while (n >= 128) {
    buf[pos++] = (n % 128) | 128;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

function sampleSize(s: Sample): number {
  return 1 + 8 + 1 + varintSize(s.timestampMs);
}

function checkTimestamp(ms: number): void {
  if (!Number.isSafeInteger(ms) || ms < 0) {
    throw new LocalError('PROTOCOL', `sample timestamp must be a non-negative integer: ${ms}`);
  }
}

export function encodeWriteRequest(series: readonly TimeSeries[]): Uint8Array {
  // Pass 1: every string's UTF-8 length and every message's size.
  const strLens: number[] = [];
  const seriesSizes: number[] = [];
  let total = 0;
  for (const ts of series) {
    let size = 0;
    for (const label of ts.labels) {
      const n = Buffer.byteLength(label.name, 'utf8');
      const v = Buffer.byteLength(label.value, 'utf8');
      strLens.push(n, v);
      const labelSize = 1 + varintSize(n) + n + 1 + varintSize(v) + v;
      size += 1 + varintSize(labelSize) + labelSize;
    }
    for (const s of ts.samples) {
      checkTimestamp(s.timestampMs);
      const ss = sampleSize(s);
      size += 1 + varintSize(ss) + ss;
    }
    seriesSizes.push(size);
    total += 1 + varintSize(size) + size;
  }

  // Pass 2: write.
  const buf = Buffer.allocUnsafe(total);
  let pos = 0;
  let str = 0;
  for (let i = 0; i < series.length; i++) {
    const ts = series[i] as TimeSeries;
    buf[pos++] = TAG_TIMESERIES;
    pos = writeVarint(buf, pos, seriesSizes[i] as number);
    for (const label of ts.labels) {
      const n = strLens[str++] as number;
      const v = strLens[str++] as number;
      buf[pos++] = TAG_LABEL;
      pos = writeVarint(buf, pos, 1 + varintSize(n) + n + 1 + varintSize(v) + v);
      buf[pos++] = TAG_NAME;
      pos = writeVarint(buf, pos, n);
      pos += buf.write(label.name, pos, n, 'utf8');
      buf[pos++] = TAG_VALUE;
      pos = writeVarint(buf, pos, v);
      pos += buf.write(label.value, pos, v, 'utf8');
    }
    for (const s of ts.samples) {
      buf[pos++] = TAG_SAMPLE;
      pos = writeVarint(buf, pos, sampleSize(s));
      buf[pos++] = TAG_SAMPLE_VALUE;
      buf.writeDoubleLE(s.value, pos);
      pos += 8;
      buf[pos++] = TAG_TIMESTAMP;
      pos = writeVarint(buf, pos, s.timestampMs);
    }
  }
  if (pos !== total)
    throw new LocalError('PROTOCOL', `protobuf size mismatch: wrote ${pos} of ${total} bytes`);
  return buf;
}
