import { lstatSync, realpathSync, statSync } from 'node:fs';
import { lstat, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { InvalidOptionError } from '../protocol/errors.js';
import { type PathRejectReason, PathSecurityError } from './errors.js';

/**
 * Safe resolution of client-supplied paths under a served directory.
 *
 * The request is judged twice. Lexically first: it must be a relative, '/'-separated path whose
 * segments are plain names. Each segment is also percent-decoded (repeatedly) and NFKC-normalized,
 * in any order, and refused if one of those readings turns into a separator, a dot segment, a
 * hidden name, a drive letter, a control character or invalid UTF-8: some layer between the client
 * and the filesystem (a proxy, a framework, a later `decodeURIComponent`) may apply exactly that
 * reading. Then on disk: the realpath of the deepest existing ancestor must stay under the realpath
 * of the root, so a symbolic link cannot lead out of it, and a dangling link is refused because
 * creating its target would write outside.
 *
 * The on-disk check is a snapshot: a link planted after it can still redirect a later `open`.
 * Serve from directories clients cannot write to.
 */
export interface SafePathOptions {
  /** Longest accepted request, in UTF-16 code units. Default 4096. */
  maxLength?: number;
  /** Serve names that start with '.' (.env, .git, .ssh). Default false. */
  allowHidden?: boolean;
  /** Accept '' and '.' as the root directory itself. Default false. */
  allowRoot?: boolean;
}

interface Settings {
  maxLength: number;
  allowHidden: boolean;
  allowRoot: boolean;
}

const DEFAULT_MAX_LENGTH = 4096;
/** Four layers of percent-encoding is already more than any honest client sends. */
const MAX_DECODE_ROUNDS = 4;
const IS_WIN32 = process.platform === 'win32';
const LONE_SURROGATE = /[\ud800-\udfff]/u;
const BIDI_CONTROL = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
const DRIVE = /^[A-Za-z]:/;
const WINDOWS_DEVICE = /^(?:con|prn|aux|nul|conin\$|conout\$|com[0-9¹²³]|lpt[0-9¹²³])(?:\..*)?$/i;
const PERCENT_RUN = /(?:%[0-9A-Fa-f]{2})+/g;
const PERCENT_U = /%u([0-9A-Fa-f]{4})/g;
const NEEDS_VARIANTS = /[%\u0080-\uffff]/;
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function reject(reason: PathRejectReason): never {
  throw new PathSecurityError(reason);
}

/** C0, DEL and C1: none belongs in a file name, and NUL truncates paths in C APIs. */
export function hasControlCharacter(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return true;
  }
  return false;
}

export function hasInvalidUnicode(s: string): boolean {
  return LONE_SURROGATE.test(s) || BIDI_CONTROL.test(s);
}

/** Only dots and spaces, at least two dots: '..' itself, and what Windows trims down to it. */
function isDotDot(s: string): boolean {
  let dots = 0;
  for (const ch of s) {
    if (ch === '.') dots++;
    else if (ch !== ' ') return false;
  }
  return dots >= 2;
}

/**
 * Decodes valid %XX triplets (and %uXXXX; stray '%' stays, as in lenient decoders) and insists the
 * bytes are valid UTF-8. Returns null when they are not: overlong forms like %c0%ae exist only
 * to slip a '.' past a checker that decodes differently from the filesystem layer.
 */
function percentDecode(s: string): string | null {
  if (!s.includes('%')) return s;
  // IIS-style %uXXXX first: some stacks still honour it.
  s = s.replace(PERCENT_U, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
  const chunks: Buffer[] = [];
  let last = 0;
  for (const m of s.matchAll(PERCENT_RUN)) {
    chunks.push(Buffer.from(s.slice(last, m.index), 'utf8'), Buffer.from(m[0].replaceAll('%', ''), 'hex'));
    last = m.index + m[0].length;
  }
  if (chunks.length === 0) return s;
  chunks.push(Buffer.from(s.slice(last), 'utf8'));
  try {
    return STRICT_UTF8.decode(Buffer.concat(chunks));
  } catch {
    return null;
  }
}

/** Is a decoded or normalized reading of a segment something other than a plain name? */
function isDangerousReading(text: string, first: boolean, settings: Settings): boolean {
  if (text.includes('/') || text.includes('\\') || hasControlCharacter(text) || hasInvalidUnicode(text)) {
    return true;
  }
  if (text.length > 0 && /^[. ]*$/.test(text) && text.includes('.')) return true;
  if (text.startsWith('.') && !settings.allowHidden) return true;
  if (first && DRIVE.test(text)) return true;
  return IS_WIN32 && text.includes(':');
}

function checkReadings(segment: string, first: boolean, settings: Settings): void {
  if (!NEEDS_VARIANTS.test(segment)) return;
  let frontier: { text: string; decoded: boolean }[] = [{ text: segment, decoded: false }];
  const seen = new Set<string>([segment]);
  for (let round = 0; round < MAX_DECODE_ROUNDS && frontier.length > 0; round++) {
    const next: { text: string; decoded: boolean }[] = [];
    const visit = (text: string, decoded: boolean): void => {
      if (seen.has(text)) return;
      seen.add(text);
      if (isDangerousReading(text, first, settings)) {
        reject(decoded ? 'SUSPICIOUS_ENCODING' : 'UNICODE_LOOKALIKE');
      }
      next.push({ text, decoded });
    };
    for (const { text, decoded } of frontier) {
      const percent = percentDecode(text);
      if (percent === null) reject('SUSPICIOUS_ENCODING');
      visit(percent, true);
      visit(text.normalize('NFKC'), decoded);
    }
    frontier = next;
  }
  // Still changing after the last round: nested encoding deeper than any honest client uses.
  if (frontier.some(({ text }) => percentDecode(text) !== text)) reject('SUSPICIOUS_ENCODING');
}

function checkSegment(segment: string, first: boolean, settings: Settings): void {
  if (isDotDot(segment)) reject('TRAVERSAL');
  if (segment.startsWith('.') && !settings.allowHidden) reject('HIDDEN_SEGMENT');
  if (IS_WIN32 && (segment.includes(':') || WINDOWS_DEVICE.test(segment) || /[. ]$/.test(segment))) {
    reject('WINDOWS_PATH');
  }
  checkReadings(segment, first, settings);
}

/**
 * The lexical half of the check: returns the plain-name segments of `requested`, or throws
 * `PathSecurityError`. Exposed so callers can validate a path before any filesystem exists.
 */
export function checkRelativePath(requested: unknown, options?: SafePathOptions): string[] {
  const settings = readOptions(options);
  return analyze(requested, settings);
}

function analyze(requested: unknown, settings: Settings): string[] {
  if (typeof requested !== 'string') reject('NOT_A_STRING');
  if (requested.length > settings.maxLength) reject('TOO_LONG');
  if (requested.includes('\0')) reject('NUL_BYTE');
  if (hasControlCharacter(requested)) reject('CONTROL_CHARACTER');
  if (hasInvalidUnicode(requested)) reject('INVALID_UNICODE');
  if (requested.startsWith('/')) reject('ABSOLUTE_PATH');
  if (requested.startsWith('\\') || DRIVE.test(requested)) reject('WINDOWS_PATH');
  if (requested.includes('\\')) reject('BACKSLASH');
  const segments: string[] = [];
  for (const segment of requested.split('/')) {
    if (segment === '' || segment === '.') continue;
    checkSegment(segment, segments.length === 0, settings);
    segments.push(segment);
  }
  if (segments.length === 0 && !settings.allowRoot) reject('EMPTY');
  return segments;
}

function readOptions(options: SafePathOptions | undefined): Settings {
  if (options === undefined) return { maxLength: DEFAULT_MAX_LENGTH, allowHidden: false, allowRoot: false };
  if (typeof options !== 'object' || options === null)
    throw new InvalidOptionError('options', 'must be an object');
  const { maxLength = DEFAULT_MAX_LENGTH, allowHidden = false, allowRoot = false } = options;
  if (!Number.isSafeInteger(maxLength) || maxLength < 1) {
    throw new InvalidOptionError('maxLength', 'must be a positive integer');
  }
  if (typeof allowHidden !== 'boolean') throw new InvalidOptionError('allowHidden', 'must be a boolean');
  if (typeof allowRoot !== 'boolean') throw new InvalidOptionError('allowRoot', 'must be a boolean');
  return { maxLength, allowHidden, allowRoot };
}

function checkRootOption(root: unknown): string {
  if (typeof root !== 'string' || root.length === 0 || root.includes('\0')) {
    throw new InvalidOptionError('root', 'must be a non-empty path string');
  }
  if (!path.isAbsolute(root)) throw new InvalidOptionError('root', 'must be an absolute path');
  return root;
}

function rootProblem(err: unknown): InvalidOptionError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return new InvalidOptionError(
    'root',
    code === 'ENOENT' ? 'directory does not exist' : `cannot be resolved (${code})`,
  );
}

/** True when `child` is `parent` or lies below it (both absolute, already normalized). */
export function isPathInside(parent: string, child: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/** 'missing' means: step up to the parent and try again. */
function classify(err: unknown): 'missing' | PathRejectReason {
  switch ((err as NodeJS.ErrnoException | undefined)?.code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return 'missing';
    case 'ELOOP':
      return 'SYMLINK_LOOP';
    case 'ENAMETOOLONG':
      return 'TOO_LONG';
    default:
      return 'UNRESOLVABLE';
  }
}

function finish(rootReal: string, real: string, rest: string[]): string {
  const resolved = rest.length === 0 ? real : path.join(real, ...rest.reverse());
  if (!isPathInside(rootReal, resolved)) reject('SYMLINK_ESCAPE');
  return resolved;
}

function stepUp(rootReal: string, current: string, rest: string[]): string {
  const parent = path.dirname(current);
  // The root exists, so reaching it missing means it vanished mid-check: fail closed.
  if (current === rootReal || parent === current) reject('UNRESOLVABLE');
  rest.push(path.basename(current));
  return parent;
}

/**
 * Resolves `requested` (relative, '/'-separated, already URI-decoded once by whoever extracted
 * it) under `root`, and returns the absolute real path to open. Throws `PathSecurityError`
 * (-32602, `reason` says why) for hostile input, `InvalidOptionError` for a bad root or option.
 * Paths that do not exist yet are fine: they resolve below their deepest existing ancestor.
 */
export async function resolveSafePath(
  root: string,
  requested: string,
  options?: SafePathOptions,
): Promise<string> {
  const settings = readOptions(options);
  const segments = analyze(requested, settings);
  let rootReal: string;
  try {
    rootReal = await realpath(checkRootOption(root));
    if (!(await stat(rootReal)).isDirectory()) throw new InvalidOptionError('root', 'is not a directory');
  } catch (err) {
    throw err instanceof InvalidOptionError ? err : rootProblem(err);
  }
  const target = path.join(rootReal, ...segments);
  if (!isPathInside(rootReal, target)) reject('OUTSIDE_ROOT');
  const rest: string[] = [];
  let current = target;
  for (;;) {
    let real: string;
    try {
      real = await realpath(current);
    } catch (err) {
      const step = classify(err);
      if (step !== 'missing') reject(step);
      if (
        await lstat(current).then(
          (s) => s.isSymbolicLink(),
          () => false,
        )
      )
        reject('DANGLING_SYMLINK');
      current = stepUp(rootReal, current, rest);
      continue;
    }
    return finish(rootReal, real, rest);
  }
}

function isSymlinkSync(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/** Synchronous `resolveSafePath`, for code paths that cannot await (same checks, same errors). */
export function resolveSafePathSync(root: string, requested: string, options?: SafePathOptions): string {
  const settings = readOptions(options);
  const segments = analyze(requested, settings);
  let rootReal: string;
  try {
    rootReal = realpathSync.native(checkRootOption(root));
    if (!statSync(rootReal).isDirectory()) throw new InvalidOptionError('root', 'is not a directory');
  } catch (err) {
    throw err instanceof InvalidOptionError ? err : rootProblem(err);
  }
  const target = path.join(rootReal, ...segments);
  if (!isPathInside(rootReal, target)) reject('OUTSIDE_ROOT');
  const rest: string[] = [];
  let current = target;
  for (;;) {
    let real: string;
    try {
      real = realpathSync.native(current);
    } catch (err) {
      const step = classify(err);
      if (step !== 'missing') reject(step);
      if (isSymlinkSync(current)) reject('DANGLING_SYMLINK');
      current = stepUp(rootReal, current, rest);
      continue;
    }
    return finish(rootReal, real, rest);
  }
}
