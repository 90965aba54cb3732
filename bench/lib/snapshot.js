// A private copy of the built mcpkit (dist/src) for one harness run, so a rebuild of dist/ while the
// bench runs (tests run `npm run build` first) cannot give different rows different code.
import { execFileSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DIST_ENV = 'MCPKIT_BENCH_DIST';

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

function git(args) {
  try {
    return execFileSync('git', args, {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return undefined;
  }
}

/** Which build is being measured: newest dist file time, git HEAD, and uncommitted src files. */
export function describeBuild() {
  const dist = join(ROOT, 'dist/src');
  if (!existsSync(dist)) throw new Error('dist/src is missing: build first (npx tsc -p tsconfig.build.json)');
  const modified = git(['status', '--porcelain', '--', 'src']);
  return {
    builtAt: new Date(newestMtime(dist)).toISOString(),
    head: git(['rev-parse', '--short', 'HEAD']),
    uncommittedSrcFiles: modified === undefined ? undefined : modified.split('\n').filter(Boolean).length,
  };
}

/**
 * Copies dist/src into a temp dir that resolves packages from this repo's node_modules.
 * Returns { dir, cleanup }: servers read `dir` from MCPKIT_BENCH_DIST.
 */
export function snapshotDist() {
  const dir = mkdtempSync(join(tmpdir(), 'mcpkit-bench-dist-'));
  cpSync(join(ROOT, 'dist/src'), join(dir, 'dist/src'), { recursive: true });
  writeFileSync(join(dir, 'package.json'), '{"type":"module","private":true}\n');
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return { dir: join(dir, 'dist'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
