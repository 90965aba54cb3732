import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  PathSecurityError,
  checkRelativePath,
  resolveSafePath,
  resolveSafePathSync,
} from '../../src/security/index.js';
import { FUZZ_TIMEOUT_MS, counter, params } from './budget.js';

vi.setConfig({ testTimeout: FUZZ_TIMEOUT_MS });

/**
 * resolveSafePath never hands back a path outside the root, whatever the string. The root
 * holds the usual traps (links out, dangling links, loops, links that climb) and the inputs
 * are built from traversal tokens, encodings and look-alikes, or are arbitrary UTF-16.
 */

let base: string;
let root: string;

beforeAll(() => {
  base = realpathSync(mkdtempSync(path.join(tmpdir(), 'mcpkit-fuzz-path-')));
  root = path.join(base, 'root');
  mkdirSync(path.join(root, 'docs', 'deep'), { recursive: true });
  mkdirSync(path.join(base, 'outside'));
  writeFileSync(path.join(root, 'file.txt'), 'x');
  writeFileSync(path.join(base, 'outside', 'secret.txt'), 'secret');
  symlinkSync('docs', path.join(root, 'inner-link'));
  symlinkSync('../outside', path.join(root, 'escape-dir'));
  symlinkSync('../outside/secret.txt', path.join(root, 'escape-file'));
  symlinkSync('../outside/nothing', path.join(root, 'dangling'));
  symlinkSync('loop-b', path.join(root, 'loop-a'));
  symlinkSync('loop-a', path.join(root, 'loop-b'));
  symlinkSync('..', path.join(root, 'docs', 'up'));
  symlinkSync('../..', path.join(root, 'docs', 'up2'));
  symlinkSync('/', path.join(root, 'docs', 'deep', 'slash'));
});

afterAll(() => rmSync(base, { recursive: true, force: true }));

function fail(message: string): never {
  throw new Error(message);
}

/** An implementation-independent judge: where does `p` really point, as far as it exists? */
function realTarget(p: string): string {
  const rest: string[] = [];
  let current = p;
  for (let i = 0; i < 512; i++) {
    try {
      return path.join(realpathSync.native(current), ...rest.reverse());
    } catch {
      rest.push(path.basename(current));
      const parent = path.dirname(current);
      if (parent === current) break;
      current = parent;
    }
  }
  return fail(`cannot judge ${p}`);
}

function checkInside(p: string): void {
  if (!path.isAbsolute(p)) fail(`relative result ${p}`);
  for (const candidate of [p, realTarget(p)]) {
    const rel = path.relative(root, candidate);
    if (rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel))
      fail(`escaped: ${candidate}`);
  }
}

/** Names that exist in the trap-filled root (links included): they reach the on-disk checks. */
const NAMES = [
  'docs',
  'deep',
  'slash',
  'inner-link',
  'escape-dir',
  'escape-file',
  'dangling',
  'loop-a',
  'up',
  'up2',
  'file.txt',
  'a',
  'é',
  'e\u0301',
  '~',
  'x y',
];
const HOSTILE = [
  '..',
  '.',
  '',
  '...',
  '.. ',
  '.env',
  '%2e',
  '%2e%2e',
  '%2E%2e',
  '%2f',
  '%5c',
  '%252e%252e',
  '%25252e',
  '%c0%ae',
  '%e0%80%ae',
  '%00',
  '%u002e%u002e',
  '%ef%bc%8e',
  '\uff0e',
  '\uff0e\uff0e',
  '\uff0f',
  '\uff3c',
  '\u2025',
  '\ufe52',
  '\\',
  '..\\',
  'C:',
  'c:',
  '\0',
  '\n',
  '\u202e',
  '\ud800',
];
const SEPARATORS = ['/', '/', '/', '//', '/./', '\\'];
const token = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...NAMES) },
  { weight: 1, arbitrary: fc.constantFrom(...HOSTILE) },
);

const tokenPath = fc
  .tuple(
    fc.constantFrom('', '', '', '', '/', './', '\\\\', '//'),
    fc.array(fc.tuple(token, fc.constantFrom(...SEPARATORS)), { minLength: 1, maxLength: 6 }),
  )
  .map(([lead, parts]) => lead + parts.map(([t, s], i) => (i === parts.length - 1 ? t : t + s)).join(''));
const utf16 = fc.string({ unit: fc.nat(0xffff).map((c) => String.fromCharCode(c)), maxLength: 60 });

function syncOutcome(requested: string, allowHidden: boolean): 'rejected' | string {
  try {
    return resolveSafePathSync(root, requested, { allowHidden, allowRoot: true });
  } catch (err) {
    if (err instanceof PathSecurityError) return 'rejected';
    throw err;
  }
}

describe('resolveSafePath under fuzzing', () => {
  it('never returns a path outside the root (hostile token paths)', () => {
    let accepted = 0;
    const c = counter();
    fc.assert(
      fc.property(tokenPath, fc.boolean(), (requested, allowHidden) => {
        c.tick();
        const r = syncOutcome(requested, allowHidden);
        if (r === 'rejected') return;
        accepted++;
        checkInside(r);
      }),
      params('safePathHostile'),
    );
    expect(c.count).toBeGreaterThanOrEqual(params('safePathHostile').numRuns!);
    // The property is only worth something if plenty of inputs get through to the disk checks.
    expect(accepted).toBeGreaterThan(c.count * 0.05);
  });

  it('never returns a path outside the root (arbitrary UTF-16 and code points)', () => {
    const c = counter();
    fc.assert(
      fc.property(
        fc.oneof(utf16, fc.string({ unit: 'binary', maxLength: 60 })),
        fc.boolean(),
        (requested, allowHidden) => {
          c.tick();
          const r = syncOutcome(requested, allowHidden);
          if (r !== 'rejected') checkInside(r);
        },
      ),
      params('safePathUnicode'),
    );
    expect(c.count).toBeGreaterThanOrEqual(params('safePathUnicode').numRuns!);
  });

  it('agrees between the async and sync variants', async () => {
    const c = counter();
    await fc.assert(
      fc.asyncProperty(fc.oneof(tokenPath, utf16), async (requested) => {
        c.tick();
        const sync = syncOutcome(requested, false);
        let asyncResult: string;
        try {
          asyncResult = await resolveSafePath(root, requested, { allowRoot: true });
        } catch (err) {
          if (!(err instanceof PathSecurityError)) throw err;
          asyncResult = 'rejected';
        }
        if (asyncResult !== sync) fail(`sync ${sync} vs async ${asyncResult}`);
      }),
      params('safePathAsync'),
    );
    expect(c.count).toBeGreaterThanOrEqual(params('safePathAsync').numRuns!);
  });

  it('accepts only segments that no decoding or normalization turns into traversal', () => {
    const readings = (segment: string): string[] => {
      const out = [segment, segment.normalize('NFKC')];
      let current = segment;
      for (let i = 0; i < 5; i++) {
        try {
          const next = decodeURIComponent(current);
          if (next === current) break;
          out.push(next, next.normalize('NFKC'));
          current = next;
        } catch {
          break;
        }
      }
      return out;
    };
    const c = counter();
    fc.assert(
      fc.property(fc.oneof(tokenPath, utf16), (requested) => {
        c.tick();
        let segments: string[];
        try {
          segments = checkRelativePath(requested, { allowRoot: true });
        } catch (err) {
          if (err instanceof PathSecurityError) return;
          throw err;
        }
        for (const segment of segments) {
          for (const r of readings(segment)) {
            if (/^[. ]*\.[. ]*$/.test(r) || /[/\\\0]/.test(r) || r.startsWith('.'))
              fail(`accepted ${JSON.stringify(segment)}`);
          }
        }
      }),
      params('safePathLexical'),
    );
    expect(c.count).toBeGreaterThanOrEqual(params('safePathLexical').numRuns!);
  });
});
