import { expect } from 'vitest';
import type { TimeSeries } from '../../src/telemetry/index.js';

/**
 * A minimal protobuf reader written from the wire-format spec, independent of the encoder:
 * it reads varints bytewise with BigInt and decodes doubles through a DataView.
 */
type Field = { no: number; wire: number; varint?: bigint; bytes?: Uint8Array; fixed64?: DataView };

function readFields(buf: Uint8Array): Field[] {
  const fields: Field[] = [];
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (pos >= buf.length) throw new Error('truncated varint');
      const byte = buf[pos++] as number;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (pos < buf.length) {
    const key = Number(varint());
    const no = key >>> 3;
    const wire = key & 7;
    if (wire === 0) fields.push({ no, wire, varint: varint() });
    else if (wire === 1) {
      fields.push({ no, wire, fixed64: new DataView(buf.buffer, buf.byteOffset + pos, 8) });
      pos += 8;
    } else if (wire === 2) {
      const len = Number(varint());
      if (pos + len > buf.length) throw new Error('truncated field');
      fields.push({ no, wire, bytes: buf.subarray(pos, pos + len) });
      pos += len;
    } else throw new Error(`unexpected wire type ${wire}`);
  }
  return fields;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function decodeWriteRequest(buf: Uint8Array): TimeSeries[] {
  return readFields(buf).map((f) => {
    expect([f.no, f.wire]).toEqual([1, 2]);
    const ts = readFields(f.bytes as Uint8Array);
    const labels = ts
      .filter((x) => x.no === 1)
      .map((x) => {
        const parts = readFields(x.bytes as Uint8Array);
        const get = (no: number) => utf8.decode(parts.find((p) => p.no === no)?.bytes ?? new Uint8Array());
        return { name: get(1), value: get(2) };
      });
    const samples = ts
      .filter((x) => x.no === 2)
      .map((x) => {
        const parts = readFields(x.bytes as Uint8Array);
        const value = parts.find((p) => p.no === 1 && p.wire === 1)?.fixed64?.getFloat64(0, true) ?? 0;
        const timestampMs = Number(parts.find((p) => p.no === 2 && p.wire === 0)?.varint ?? 0n);
        return { value, timestampMs };
      });
    expect(ts.every((x) => x.no === 1 || x.no === 2)).toBe(true);
    return { labels, samples };
  });
}
