import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, InvalidOptionError, McpError } from '../../src/protocol/errors.js';
import { errorResponseFrom } from '../../src/protocol/jsonrpc.js';
import {
  type PathRejectReason,
  PathSecurityError,
  type SafePathOptions,
  checkRelativePath,
  resolveSafePath,
  resolveSafePathSync,
} from '../../src/security/index.js';

let base: string;
let root: string;
let outside: string;

beforeAll(() => {
  base = realpathSync(mkdtempSync(path.join(tmpdir(), 'mcpkit-path-')));
  root = path.join(base, 'root');
  outside = path.join(base, 'outside');
  mkdirSync(path.join(root, 'docs', 'deep'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(path.join(root, 'docs', 'readme.txt'), 'hello');
  writeFileSync(path.join(root, 'file.txt'), 'x');
  writeFileSync(path.join(outside, 'secret.txt'), 'secret');
  symlinkSync('docs', path.join(root, 'inner-link'));
  symlinkSync('../outside', path.join(root, 'escape-dir'));
  symlinkSync(path.join(outside, 'secret.txt'), path.join(root, 'escape-file'));
  symlinkSync('/etc', path.join(root, 'abs-escape'));
  symlinkSync('../outside/not-there', path.join(root, 'dangling'));
  symlinkSync('not-there-either', path.join(root, 'dangling-inside'));
  symlinkSync('loop-b', path.join(root, 'loop-a'));
  symlinkSync('loop-a', path.join(root, 'loop-b'));
  symlinkSync('..', path.join(root, 'docs', 'up'));
  symlinkSync('../..', path.join(root, 'docs', 'up2'));
  symlinkSync('../../../outside', path.join(root, 'docs', 'deep', 'sneaky'));
  symlinkSync(root, path.join(base, 'root-link'));
});

afterAll(() => {
  rmSync(base, { recursive: true, force: true });
});

/** Runs both variants and insists they agree. */
async function outcome(requested: unknown, options?: SafePathOptions, at = root): Promise<string> {
  const run = (fn: () => string) => {
    try {
      return `ok:${fn()}`;
    } catch (err) {
      if (err instanceof PathSecurityError) return `reject:${err.reason}`;
      throw err;
    }
  };
  const sync = run(() => resolveSafePathSync(at, requested as string, options));
  let asyncResult: string;
  try {
    asyncResult = `ok:${await resolveSafePath(at, requested as string, options)}`;
  } catch (err) {
    if (!(err instanceof PathSecurityError)) throw err;
    asyncResult = `reject:${err.reason}`;
  }
  expect(asyncResult).toBe(sync);
  return sync;
}

const HOSTILE: [unknown, PathRejectReason, SafePathOptions?][] = [
  // Plain traversal.
  ['..', 'TRAVERSAL'],
  ['../etc/passwd', 'TRAVERSAL'],
  ['../../../../../../etc/passwd', 'TRAVERSAL'],
  ['docs/../../etc/passwd', 'TRAVERSAL'],
  ['docs/..', 'TRAVERSAL'],
  ['docs/../file.txt', 'TRAVERSAL'],
  ['...', 'TRAVERSAL'],
  ['....//....//etc/passwd', 'TRAVERSAL'],
  ['.. ', 'TRAVERSAL'],
  ['docs/. ./x', 'TRAVERSAL'],
  // Absolute and Windows forms.
  ['/etc/passwd', 'ABSOLUTE_PATH'],
  ['//etc/passwd', 'ABSOLUTE_PATH'],
  ['/', 'ABSOLUTE_PATH'],
  ['C:\\Windows\\win.ini', 'WINDOWS_PATH'],
  ['c:/windows/system32', 'WINDOWS_PATH'],
  ['C:', 'WINDOWS_PATH'],
  ['C:file.txt', 'WINDOWS_PATH'],
  ['a:b', 'WINDOWS_PATH'],
  ['\\\\server\\share\\secret', 'WINDOWS_PATH'],
  ['\\\\?\\C:\\secret', 'WINDOWS_PATH'],
  ['\\\\.\\pipe\\x', 'WINDOWS_PATH'],
  ['\\etc\\passwd', 'WINDOWS_PATH'],
  ['..\\..\\etc\\passwd', 'BACKSLASH'],
  ['docs\\..\\..\\x', 'BACKSLASH'],
  // Bytes that never belong in a name.
  ['file.txt\0.png', 'NUL_BYTE'],
  ['\0', 'NUL_BYTE'],
  ['a\nb', 'CONTROL_CHARACTER'],
  ['a\rb', 'CONTROL_CHARACTER'],
  ['\t', 'CONTROL_CHARACTER'],
  ['a\x7f', 'CONTROL_CHARACTER'],
  ['a\u0085b', 'CONTROL_CHARACTER'],
  ['\x1b[31mred', 'CONTROL_CHARACTER'],
  ['\ud800', 'INVALID_UNICODE'],
  ['a\udc00b', 'INVALID_UNICODE'],
  ['invoice\u202etxt.exe', 'INVALID_UNICODE'],
  ['a\u2066b', 'INVALID_UNICODE'],
  // Percent-encoding tricks.
  ['%2e%2e', 'SUSPICIOUS_ENCODING'],
  ['%2e%2e/etc/passwd', 'SUSPICIOUS_ENCODING'],
  ['%2E%2E%2Fetc%2Fpasswd', 'SUSPICIOUS_ENCODING'],
  ['docs/%2e%2e/%2e%2e/x', 'SUSPICIOUS_ENCODING'],
  ['a%2fb', 'SUSPICIOUS_ENCODING'],
  ['a%2Fb', 'SUSPICIOUS_ENCODING'],
  ['a%5cb', 'SUSPICIOUS_ENCODING'],
  ['%252e%252e/x', 'SUSPICIOUS_ENCODING'],
  ['%25252e%25252e', 'SUSPICIOUS_ENCODING'],
  ['a%252fb', 'SUSPICIOUS_ENCODING'],
  ['a%00.txt', 'SUSPICIOUS_ENCODING'],
  ['a%0ab', 'SUSPICIOUS_ENCODING'],
  ['%c0%ae%c0%ae/x', 'SUSPICIOUS_ENCODING'],
  ['%e0%80%ae', 'SUSPICIOUS_ENCODING'],
  ['%c0%af', 'SUSPICIOUS_ENCODING'],
  ['%ff', 'SUSPICIOUS_ENCODING'],
  ['%2e', 'SUSPICIOUS_ENCODING'],
  ['%2eenv', 'SUSPICIOUS_ENCODING'],
  ['C%3A', 'SUSPICIOUS_ENCODING'],
  ['%u002e%u002e', 'SUSPICIOUS_ENCODING'],
  ['%uff0e%uff0e', 'SUSPICIOUS_ENCODING'],
  ['%EF%BC%8E%EF%BC%8E', 'SUSPICIOUS_ENCODING'],
  ['%E2%80%AEtxt', 'SUSPICIOUS_ENCODING'],
  ['a%2525252525252fb', 'SUSPICIOUS_ENCODING'],
  // Unicode that normalizes into separators or dots.
  ['\uff0e\uff0e', 'UNICODE_LOOKALIKE'],
  ['\uff0e\uff0e/etc/passwd', 'UNICODE_LOOKALIKE'],
  ['a\uff0fb', 'UNICODE_LOOKALIKE'],
  ['\uff0e\uff0e\uff0fetc', 'UNICODE_LOOKALIKE'],
  ['\u2025', 'UNICODE_LOOKALIKE'],
  ['\u2024\u2024', 'UNICODE_LOOKALIKE'],
  ['\ufe52\ufe52', 'UNICODE_LOOKALIKE'],
  ['a\uff3cb', 'UNICODE_LOOKALIKE'],
  ['a\ufe68b', 'UNICODE_LOOKALIKE'],
  ['\uff0eenv', 'UNICODE_LOOKALIKE'],
  ['\uff21\uff1a', 'UNICODE_LOOKALIKE'],
  ['\uff05\uff12\uff45\uff05\uff12\uff45', 'SUSPICIOUS_ENCODING'],
  // Hidden files are not served by default.
  ['.env', 'HIDDEN_SEGMENT'],
  ['.git/config', 'HIDDEN_SEGMENT'],
  ['docs/.ssh/id_rsa', 'HIDDEN_SEGMENT'],
  ['..%2f..%2fetc', 'HIDDEN_SEGMENT'],
  ['..%2f..%2fetc', 'SUSPICIOUS_ENCODING', { allowHidden: true }],
  // Degenerate input.
  ['', 'EMPTY'],
  ['.', 'EMPTY'],
  ['./.', 'EMPTY'],
  ['a/'.repeat(3000), 'TOO_LONG'],
  ['abcdef', 'TOO_LONG', { maxLength: 5 }],
  [42, 'NOT_A_STRING'],
  [null, 'NOT_A_STRING'],
  [undefined, 'NOT_A_STRING'],
  [['a'], 'NOT_A_STRING'],
  // Symbolic links that lead out.
  ['escape-dir/secret.txt', 'SYMLINK_ESCAPE'],
  ['escape-dir', 'SYMLINK_ESCAPE'],
  ['escape-dir/missing/deeper.txt', 'SYMLINK_ESCAPE'],
  ['escape-file', 'SYMLINK_ESCAPE'],
  ['abs-escape/passwd', 'SYMLINK_ESCAPE'],
  ['docs/up2/outside/secret.txt', 'SYMLINK_ESCAPE'],
  ['docs/up2', 'SYMLINK_ESCAPE'],
  ['docs/deep/sneaky/secret.txt', 'SYMLINK_ESCAPE'],
  ['inner-link/up2/x', 'SYMLINK_ESCAPE'],
  ['dangling', 'DANGLING_SYMLINK'],
  ['dangling/child.txt', 'DANGLING_SYMLINK'],
  ['dangling-inside', 'DANGLING_SYMLINK'],
  ['loop-a', 'SYMLINK_LOOP'],
  ['loop-a/x', 'SYMLINK_LOOP'],
];

describe('resolveSafePath: hostile corpus', () => {
  it('has a corpus worth the name', () => {
    expect(HOSTILE.length).toBeGreaterThan(90);
  });

  it.each(
    HOSTILE.map(([p, reason, options]) => ({ p, reason, options, label: JSON.stringify(p)?.slice(0, 60) })),
  )('rejects $label with $reason', async ({ p, reason, options }) => {
    expect(await outcome(p, options)).toBe(`reject:${reason}`);
  });
});

describe('resolveSafePath: accepted paths', () => {
  const ACCEPTED: [string, string, SafePathOptions?][] = [
    ['file.txt', 'file.txt'],
    ['docs/readme.txt', 'docs/readme.txt'],
    ['docs//readme.txt', 'docs/readme.txt'],
    ['./docs/./readme.txt', 'docs/readme.txt'],
    ['docs/', 'docs'],
    ['inner-link/readme.txt', 'docs/readme.txt'],
    ['docs/up/file.txt', 'file.txt'],
    ['not/yet/created.txt', 'not/yet/created.txt'],
    ['file.txt/below-a-file', 'file.txt/below-a-file'],
    ['café.txt', 'café.txt'],
    ['cafe\u0301.txt', 'cafe\u0301.txt'],
    ['résumé/ファイル.txt', 'résumé/ファイル.txt'],
    ['\uff21\uff22\uff23', '\uff21\uff22\uff23'],
    ['100%25 done.txt', '100%25 done.txt'],
    ['%zz', '%zz'],
    ['50%', '50%'],
    ['notes:2024.txt', 'notes:2024.txt'],
    ['a..b', 'a..b'],
    ['a.', 'a.'],
    ['..a', '..a', { allowHidden: true }],
    ['.well-known/x', '.well-known/x', { allowHidden: true }],
    ['', '', { allowRoot: true }],
    ['.', '', { allowRoot: true }],
  ];
  it.each(ACCEPTED.map(([p, rel, options]) => ({ p, rel, options })))(
    'accepts $p',
    async ({ p, rel, options }) => {
      expect(await outcome(p, options)).toBe(`ok:${path.join(root, rel)}`);
    },
  );

  it('returns a real path when the root itself is reached through a symlink', async () => {
    expect(await outcome('docs/readme.txt', undefined, path.join(base, 'root-link'))).toBe(
      `ok:${path.join(root, 'docs/readme.txt')}`,
    );
    expect(await outcome('escape-dir/secret.txt', undefined, path.join(base, 'root-link'))).toBe(
      'reject:SYMLINK_ESCAPE',
    );
  });
});

describe('resolveSafePath: errors', () => {
  it('travels as a -32602 JSON-RPC error that names the reason and not the root', async () => {
    const err = await resolveSafePath(root, '../etc/passwd').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PathSecurityError);
    expect(err).toBeInstanceOf(McpError);
    const e = err as PathSecurityError;
    expect(e.code).toBe(ErrorCode.InvalidParams);
    expect(e.toJSON()).toEqual({ code: -32602, message: expect.any(String), data: { reason: 'TRAVERSAL' } });
    const wire = JSON.stringify(errorResponseFrom(7, e));
    expect(wire).not.toContain(base);
    expect(wire).not.toContain('passwd');
  });

  it('rejects a bad root or option with an InvalidOptionError naming it', async () => {
    await expect(resolveSafePath('relative/root', 'a')).rejects.toMatchObject({ option: 'root' });
    await expect(resolveSafePath(path.join(base, 'missing'), 'a')).rejects.toMatchObject({ option: 'root' });
    await expect(resolveSafePath(path.join(root, 'file.txt'), 'a')).rejects.toMatchObject({ option: 'root' });
    expect(() => resolveSafePathSync(path.join(root, 'file.txt'), 'a')).toThrow(InvalidOptionError);
    expect(() => resolveSafePathSync(root, 'a', { maxLength: 0 })).toThrow(/maxLength/);
    expect(() => resolveSafePathSync(root, 'a', { allowHidden: 'yes' as unknown as boolean })).toThrow(
      /allowHidden/,
    );
    expect(() => resolveSafePathSync('', 'a')).toThrow(/root/);
  });

  it('validates lexically without touching the disk', () => {
    expect(checkRelativePath('a/./b//c')).toEqual(['a', 'b', 'c']);
    expect(() => checkRelativePath('a/%2e%2e/b')).toThrow(PathSecurityError);
  });
});
