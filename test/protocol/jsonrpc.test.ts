import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/protocol/errors.js';
import { validateMessage } from '../../src/protocol/jsonrpc.js';

const refused = (value: unknown) => {
  const v = validateMessage(value);
  return v.ok ? undefined : v.error;
};

describe('validateMessage on responses (JSON-RPC 2.0 section 5)', () => {
  it('accepts error responses whose id is a request id, null or absent', () => {
    for (const id of [1, 'a', null, undefined]) {
      const m =
        id === undefined
          ? { jsonrpc: '2.0', error: { code: -1, message: 'x' } }
          : { jsonrpc: '2.0', id, error: { code: -1, message: 'x' } };
      expect(validateMessage(m).ok, String(id)).toBe(true);
    }
  });

  it('refuses error responses with any other id', () => {
    for (const id of [{}, [], true, 1.5, Number.MAX_SAFE_INTEGER + 1, 'x'.repeat(1025)]) {
      expect(refused({ jsonrpc: '2.0', id, error: { code: -1, message: 'x' } })).toMatchObject({
        id: null,
        error: { code: ErrorCode.InvalidRequest },
      });
    }
  });

  it('refuses a response with both result and error, answering with its id', () => {
    expect(refused({ jsonrpc: '2.0', id: 7, result: {}, error: { code: 1, message: 'x' } })).toMatchObject({
      id: 7,
      error: { code: ErrorCode.InvalidRequest, message: expect.stringContaining('both result and error') },
    });
  });

  it('refuses error codes that are not integers', () => {
    for (const code of [1.5, Number.NaN, Number.POSITIVE_INFINITY, '1', null]) {
      expect(refused({ jsonrpc: '2.0', id: 1, error: { code, message: 'x' } }), String(code)).toBeDefined();
    }
    expect(
      validateMessage({ jsonrpc: '2.0', id: 1, error: { code: -32603, message: 'x', data: {} } }).ok,
    ).toBe(true);
  });

  it('still requires a request id on result responses', () => {
    expect(refused({ jsonrpc: '2.0', result: {} })).toBeDefined();
    expect(refused({ jsonrpc: '2.0', id: null, result: {} })).toBeDefined();
    expect(validateMessage({ jsonrpc: '2.0', id: 0, result: {} }).ok).toBe(true);
  });
});
