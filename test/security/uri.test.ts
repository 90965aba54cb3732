import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, InvalidOptionError } from '../../src/protocol/errors.js';
import {
  type FileUriOptions,
  PathSecurityError,
  type ResourceUriOptions,
  type UriRejectReason,
  UriSecurityError,
  fileUriToSafePath,
  fileUriToSafePathSync,
  normalizeResourceUri,
  validateResourceUri,
} from '../../src/security/index.js';

function reason(fn: () => unknown): string {
  try {
    fn();
    return 'accepted';
  } catch (err) {
    if (err instanceof UriSecurityError || err instanceof PathSecurityError) return err.reason;
    throw err;
  }
}

describe('validateResourceUri', () => {
  const REJECTED: [unknown, UriRejectReason, ResourceUriOptions?][] = [
    [42, 'NOT_A_STRING'],
    [null, 'NOT_A_STRING'],
    ['', 'EMPTY'],
    [`note://x/${'a'.repeat(9000)}`, 'TOO_LONG'],
    ['note://x/abcdef', 'TOO_LONG', { maxLength: 10 }],
    ['file:///a\nb', 'CONTROL_CHARACTER'],
    ['java\tscript:alert(1)', 'CONTROL_CHARACTER'],
    ['\x00file:///x', 'CONTROL_CHARACTER'],
    ['\x01javascript:alert(1)', 'CONTROL_CHARACTER'],
    ['file:///a\x7f', 'CONTROL_CHARACTER'],
    ['file:///a\u0085', 'CONTROL_CHARACTER'],
    [' file:///x', 'WHITESPACE'],
    ['file:///a b', 'WHITESPACE'],
    ['file:///a\u00a0b', 'WHITESPACE'],
    ['file:///a\u2028b', 'WHITESPACE'],
    ['file:///a\u3000b', 'WHITESPACE'],
    ['file:///a\ufeffb', 'WHITESPACE'],
    ['file:///\ud800', 'INVALID_UNICODE'],
    ['file:///invoice\u202etxt.exe', 'INVALID_UNICODE'],
    ['file:///C:\\Windows', 'BACKSLASH'],
    ['https://evil.example\\@good.example/', 'BACKSLASH'],
    ['file:///a%zzb', 'MALFORMED_PERCENT_ENCODING'],
    ['file:///%', 'MALFORMED_PERCENT_ENCODING'],
    ['file:///%2', 'MALFORMED_PERCENT_ENCODING'],
    ['no-scheme', 'INVALID_URI'],
    ['/abs/path', 'INVALID_URI'],
    ['://x', 'INVALID_URI'],
    ['C:/Windows/win.ini', 'INVALID_URI'],
    ['http://[::1/', 'INVALID_URI'],
    ['https://exa mple.com', 'WHITESPACE'],
    ['javascript:alert(1)', 'DANGEROUS_SCHEME'],
    ['JavaScript:alert(document.cookie)', 'DANGEROUS_SCHEME'],
    ['data:text/html,<script>alert(1)</script>', 'DANGEROUS_SCHEME'],
    ['vbscript:msgbox(1)', 'DANGEROUS_SCHEME'],
    ['https://example.com/', 'SCHEME_NOT_ALLOWED', { allowedSchemes: ['file'] }],
    ['javascript:alert(1)', 'SCHEME_NOT_ALLOWED', { allowedSchemes: ['file', 'https'] }],
    ['https://user:pass@example.com/', 'CREDENTIALS'],
    ['https://user@example.com/', 'CREDENTIALS'],
    ['redis://:secret@localhost:6379', 'CREDENTIALS'],
  ];
  it.each(
    REJECTED.map(([uri, why, options]) => ({ uri, why, options, label: JSON.stringify(uri)?.slice(0, 50) })),
  )('rejects $label ($why)', ({ uri, why, options }) => {
    expect(reason(() => validateResourceUri(uri, options))).toBe(why);
  });

  it.each([
    ['file:///home/user/a.txt'],
    ['note://abc/def?x=1#y'],
    ['urn:isbn:0451450523'],
    ['custom+x-1.0:thing'],
    ['https://example.com/a%20b'],
    ['file:///%E2%9C%93'],
    ['db://localhost/table/42'],
    ['ui://widget/\u00e9t\u00e9'],
  ])('accepts %s', (uri) => {
    expect(validateResourceUri(uri)).toBeInstanceOf(URL);
  });

  it('lets explicitly allowed schemes through, dangerous ones included', () => {
    expect(validateResourceUri('data:,hello', { allowedSchemes: ['data'] }).protocol).toBe('data:');
    expect(validateResourceUri('FILE:///x', { allowedSchemes: ['File:'] }).protocol).toBe('file:');
    expect(validateResourceUri('https://u:p@h/', { allowCredentials: true }).username).toBe('u');
  });

  it('is an InvalidParams error with the reason in data', () => {
    try {
      validateResourceUri('javascript:alert(1)');
      expect.unreachable();
    } catch (err) {
      expect((err as UriSecurityError).toJSON()).toEqual({
        code: ErrorCode.InvalidParams,
        message: expect.any(String),
        data: { reason: 'DANGEROUS_SCHEME' },
      });
    }
  });

  it('validates options and names the one that is wrong', () => {
    expect(() => validateResourceUri('a:b', { allowedSchemes: [] })).toThrow(/allowedSchemes/);
    expect(() => validateResourceUri('a:b', { allowedSchemes: ['ht tp'] })).toThrow(/allowedSchemes/);
    expect(() => validateResourceUri('a:b', { maxLength: -1 })).toThrow(/maxLength/);
    expect(() => validateResourceUri('a:b', { allowCredentials: 1 as unknown as boolean })).toThrow(
      InvalidOptionError,
    );
  });
});

describe('normalizeResourceUri', () => {
  it.each([
    ['NOTE://HoSt/a/%7e/./b/../c?%2f#%41', 'note://host/a/~/c?%2F#A'],
    ['HTTPS://Example.COM:443/a/../b', 'https://example.com/b'],
    ['file:///a/%2e%2e/b', 'file:///b'],
    ['file:///a/%2E%2e/b/%2e/c', 'file:///b/c'],
    ['note://h/%e2%9c%93', 'note://h/%E2%9C%93'],
    ['note://h/\u2713', 'note://h/%E2%9C%93'],
    ['urn:Example:%61bc', 'urn:Example:abc'],
  ])('%s -> %s', (input, expected) => {
    expect(normalizeResourceUri(input)).toBe(expected);
    expect(normalizeResourceUri(expected)).toBe(expected);
  });

  it('gives two spellings of one resource the same key', () => {
    expect(normalizeResourceUri('note://HOST/x/./y/%7Euser')).toBe(
      normalizeResourceUri('note://host/x/y/~user'),
    );
  });

  it('refuses what validateResourceUri refuses', () => {
    expect(reason(() => normalizeResourceUri('javascript:alert(1)'))).toBe('DANGEROUS_SCHEME');
  });
});

describe('fileUriToSafePath', () => {
  let base: string;
  let root: string;
  beforeAll(() => {
    base = realpathSync(mkdtempSync(path.join(tmpdir(), 'mcpkit-uri-')));
    root = path.join(base, 'root');
    mkdirSync(path.join(root, 'docs'), { recursive: true });
    mkdirSync(path.join(base, 'outside'));
    mkdirSync(path.join(base, 'root-sibling'));
    writeFileSync(path.join(root, 'docs', 'readme.txt'), 'hello');
    writeFileSync(path.join(base, 'outside', 'secret.txt'), 'secret');
    symlinkSync('../outside', path.join(root, 'escape-dir'));
    symlinkSync(root, path.join(base, 'root-link'));
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  async function both(uri: string, options?: FileUriOptions, at?: string): Promise<string> {
    const r = at ?? root;
    let sync: string;
    try {
      sync = `ok:${fileUriToSafePathSync(uri, r, options)}`;
    } catch (err) {
      if (!(err instanceof UriSecurityError || err instanceof PathSecurityError)) throw err;
      sync = err.reason;
    }
    let async: string;
    try {
      async = `ok:${await fileUriToSafePath(uri, r, options)}`;
    } catch (err) {
      if (!(err instanceof UriSecurityError || err instanceof PathSecurityError)) throw err;
      async = err.reason;
    }
    expect(async).toBe(sync);
    return sync;
  }

  it('maps file URIs below the root to real paths', async () => {
    const file = path.join(root, 'docs', 'readme.txt');
    expect(await both(`file://${root}/docs/readme.txt`)).toBe(`ok:${file}`);
    expect(await both(`file://localhost${root}/docs/readme.txt`)).toBe(`ok:${file}`);
    expect(await both(`file://${root}/docs/sub/../readme.txt`)).toBe(`ok:${file}`);
    expect(await both(`file://${root}/caf%C3%A9.txt`)).toBe(`ok:${path.join(root, 'café.txt')}`);
    expect(await both(`file://${root}`, { allowRoot: true })).toBe(`ok:${root}`);
    // The root given through a symlink, the URI spelled with the real path (or the other way round).
    expect(await both(`file://${root}/docs/readme.txt`, undefined, path.join(base, 'root-link'))).toBe(
      `ok:${file}`,
    );
    expect(await both(`file://${base}/root-link/docs/readme.txt`)).toBe('OUTSIDE_ROOT');
  });

  it.each([
    ['file:///etc/passwd', 'OUTSIDE_ROOT'],
    ['{root}/../outside/secret.txt', 'OUTSIDE_ROOT'],
    ['{root}/%2e%2e/outside/secret.txt', 'OUTSIDE_ROOT'],
    ['{root}/docs/%2E%2E/%2E%2E/outside/secret.txt', 'OUTSIDE_ROOT'],
    ['{root}-sibling/x', 'OUTSIDE_ROOT'],
    ['{root}/a%2f..%2f..%2fx', 'ENCODED_SEPARATOR'],
    ['{root}/a%5C..%5Cx', 'ENCODED_SEPARATOR'],
    ['{root}/a%00.txt', 'ENCODED_SEPARATOR'],
    ['{root}/%252e%252e/x', 'SUSPICIOUS_ENCODING'],
    ['{root}/%c0%ae%c0%ae/x', 'SUSPICIOUS_ENCODING'],
    ['{root}/\uff0e\uff0e/x', 'UNICODE_LOOKALIKE'],
    ['{root}/escape-dir/secret.txt', 'SYMLINK_ESCAPE'],
    ['{root}/.env', 'HIDDEN_SEGMENT'],
    ['{root}', 'EMPTY'],
    ['{root}/docs/readme.txt?raw=1', 'INVALID_URI'],
    ['{root}/docs/readme.txt#top', 'INVALID_URI'],
    ['file://evil.example/share/x', 'REMOTE_FILE_HOST'],
    ['file://192.168.0.1/c$/x', 'REMOTE_FILE_HOST'],
    ['https://example.com/x', 'SCHEME_NOT_ALLOWED'],
    ['javascript:alert(1)', 'SCHEME_NOT_ALLOWED'],
    ['file:///a b', 'WHITESPACE'],
  ])('rejects %s (%s)', async (template, why) => {
    const uri = template.startsWith('{root}') ? `file://${root}${template.slice(6)}` : template;
    expect(await both(uri)).toBe(why);
  });

  it('validates its own options', async () => {
    await expect(fileUriToSafePath('file:///x', 'relative')).rejects.toThrow(/root/);
    expect(() => fileUriToSafePathSync('file:///x', root, { maxUriLength: 0 })).toThrow(/maxUriLength/);
    expect(
      reason(() => fileUriToSafePathSync(`file://${root}/docs/readme.txt`, root, { maxUriLength: 10 })),
    ).toBe('TOO_LONG');
  });
});
