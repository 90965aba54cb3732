import { HeaderMismatchError } from '../../protocol/errors.js';
import type { RegisteredTool } from '../../server/registry.js';
import type { HttpIO } from './io.js';

const SENTINEL_PREFIX = '=?base64?';
const SENTINEL_SUFFIX = '?=';
// Visible ASCII, space and tab (RFC 9110 field values).
const FIELD_VALUE_RE = /^[\t\x20-\x7e]*$/;

/** Decodes a `Mcp-Name` / `Mcp-Param-*` value, honouring the Base64 sentinel form. */
export function decodeHeaderValue(value: string, header: string): string {
  if (!FIELD_VALUE_RE.test(value))
    throw new HeaderMismatchError(`Header mismatch: ${header} contains invalid characters`);
  if (
    value.startsWith(SENTINEL_PREFIX) &&
    value.endsWith(SENTINEL_SUFFIX) &&
    value.length >= SENTINEL_PREFIX.length + SENTINEL_SUFFIX.length
  ) {
    const b64 = value.slice(SENTINEL_PREFIX.length, value.length - SENTINEL_SUFFIX.length);
    if (b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64))
      throw new HeaderMismatchError(`Header mismatch: ${header} has invalid Base64`);
    return Buffer.from(b64, 'base64').toString('utf8');
  }
  return value;
}

/** Encodes a value for a mirrored header (client side), using Base64 when it is not header-safe. */
export function encodeHeaderValue(value: string | number | boolean): string {
  const text = String(value);
  const safe = /^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/.test(text) || text.length === 0;
  if (safe && !(text.startsWith(SENTINEL_PREFIX) && text.endsWith(SENTINEL_SUFFIX))) return text;
  return `${SENTINEL_PREFIX}${Buffer.from(text, 'utf8').toString('base64')}${SENTINEL_SUFFIX}`;
}

/** Methods whose target is mirrored into `Mcp-Name`, and the params field it comes from. */
export const NAMED: Record<string, 'name' | 'uri' | 'taskId'> = {
  'tools/call': 'name',
  'prompts/get': 'name',
  'resources/read': 'uri',
  'tasks/get': 'taskId',
  'tasks/update': 'taskId',
  'tasks/cancel': 'taskId',
};

/**
 * 2026-07-28 header/body agreement: Mcp-Method, Mcp-Name and the tool's `x-mcp-header`
 * parameters must match the body, so a proxy routing on headers and the server acting on
 * the body cannot disagree.
 */
export function validateMirroredHeaders(
  io: HttpIO,
  method: string,
  params: Record<string, unknown>,
  lookupTool: (name: string) => RegisteredTool | undefined,
): void {
  const mcpMethod = io.header('mcp-method')?.trim();
  if (mcpMethod === undefined)
    throw new HeaderMismatchError('Header mismatch: required header Mcp-Method is missing');
  if (mcpMethod !== method)
    throw new HeaderMismatchError(
      `Header mismatch: Mcp-Method header value '${mcpMethod}' does not match body value '${method}'`,
    );
  const field = Object.hasOwn(NAMED, method) ? NAMED[method] : undefined;
  if (!field) return;
  const bodyValue = params[field];
  const raw = io.header('mcp-name')?.trim();
  if (raw === undefined)
    throw new HeaderMismatchError('Header mismatch: required header Mcp-Name is missing');
  const name = decodeHeaderValue(raw, 'Mcp-Name');
  if (name !== bodyValue)
    throw new HeaderMismatchError(
      `Header mismatch: Mcp-Name header value '${name}' does not match body value '${String(bodyValue)}'`,
    );
  if (method !== 'tools/call' || typeof bodyValue !== 'string') return;
  const tool = lookupTool(bodyValue);
  if (!tool || tool.headerParams.length === 0) return;
  const args = (params.arguments ?? {}) as Record<string, unknown>;
  for (const { argument, header } of tool.headerParams) {
    const value = args[argument];
    const headerName = `Mcp-Param-${header}`;
    const rawParam = io.header(headerName.toLowerCase())?.trim();
    if (value === undefined || value === null) continue;
    if (rawParam === undefined)
      throw new HeaderMismatchError(`Header mismatch: required header ${headerName} is missing`);
    const decoded = decodeHeaderValue(rawParam, headerName);
    let matches: boolean;
    if (typeof value === 'number') matches = decoded.trim() !== '' && Number(decoded) === value;
    else if (typeof value === 'boolean') matches = decoded === String(value);
    else matches = decoded === String(value);
    if (!matches) {
      throw new HeaderMismatchError(
        `Header mismatch: ${headerName} header value '${decoded}' does not match body value '${String(value)}'`,
      );
    }
  }
}
