// CPU profile of one server under load (`node --cpu-prof`), summarised as top self-time functions.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareScenario, startHttpServer, verifyScenario } from './http.js';
import { DIST_ENV } from './snapshot.js';
import { runLoad } from './wrk.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function shortUrl(url) {
  if (!url) return '';
  let u = url.replace(/^file:\/\//, '');
  // Frames from the harness's private copy of dist/ read as dist/... too.
  const snapshot = process.env[DIST_ENV];
  if (snapshot && u.startsWith(`${snapshot}/`)) u = `dist/${u.slice(snapshot.length + 1)}`;
  if (u.startsWith(ROOT)) u = u.slice(ROOT.length);
  return u.replace(/^node_modules\//, '');
}

/** Where a frame lives, coarsely: the package, node internals, or the mcpkit source file. */
function moduleOf(url) {
  const u = shortUrl(url);
  if (u === '') return '(native/vm)';
  if (u.startsWith('node:')) return u.split('/').slice(0, 2).join('/');
  if (u.startsWith('dist/')) return u;
  const parts = u.split('/');
  return parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] ?? u);
}

/**
 * Self time per function (and per module) from a .cpuprofile, counting only samples inside
 * [fromUs, toUs] (the profile's monotonic µs clock) when given, so startup and warmup are left out.
 */
export function summarizeProfile(
  profile,
  { top = 15, requests, fromUs = Number.NEGATIVE_INFINITY, toUs = Number.POSITIVE_INFINITY } = {},
) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  let total = 0;
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    t += dt;
    if (t < fromUs || t > toUs) continue;
    total += dt;
    self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + dt);
  }
  const fns = new Map();
  const mods = new Map();
  for (const [id, us] of self) {
    const f = byId.get(id)?.callFrame;
    if (!f) continue;
    const name = f.functionName || '(anonymous)';
    const where = f.url ? `${shortUrl(f.url)}:${f.lineNumber + 1}` : '';
    const key = `${name} ${where}`;
    fns.set(key, { name, where, us: (fns.get(key)?.us ?? 0) + us });
    const m = f.url ? moduleOf(f.url) : name.startsWith('(') ? name : '(native/vm)';
    mods.set(m, (mods.get(m) ?? 0) + us);
  }
  const idle = [...fns.values()].filter((f) => f.name === '(idle)').reduce((s, f) => s + f.us, 0);
  const busy = total - idle;
  const perReq = (us) => (requests ? us / requests : undefined);
  const rank = (entries) => entries.sort((a, b) => b.us - a.us).slice(0, top);
  return {
    totalMs: total / 1000,
    busyMs: busy / 1000,
    requests,
    functions: rank([...fns.values()].filter((f) => f.name !== '(idle)')).map((f) => ({
      ...f,
      pctBusy: (100 * f.us) / busy,
      usPerReq: perReq(f.us),
    })),
    modules: rank(
      [...mods.entries()].filter(([m]) => m !== '(idle)').map(([m, us]) => ({ module: m, us })),
    ).map((m) => ({
      ...m,
      pctBusy: (100 * m.us) / busy,
      usPerReq: perReq(m.us),
    })),
  };
}

/** Profiles `kind`/`scenario` for `seconds` of load after `warmup` seconds; returns the summary. */
export async function profileServer({
  kind,
  scenario,
  seconds,
  warmup,
  serverCore,
  loadCore,
  connections,
  sessions,
  top,
}) {
  const dir = mkdtempSync(join(tmpdir(), 'mcpkit-prof-'));
  try {
    const server = await startHttpServer(kind, {
      core: serverCore,
      nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`],
    });
    let from;
    let to;
    try {
      const prepared = await prepareScenario(server.url, scenario, sessions);
      await verifyScenario(server.url, prepared);
      const load = { url: server.url, ...prepared, connections, core: loadCore };
      if (warmup > 0) await runLoad({ ...load, seconds: warmup });
      // The debug route reports the server's request count and clock: the window the summary covers.
      from = await server.debug();
      await runLoad({ ...load, seconds });
      to = await server.debug();
    } finally {
      // The profile is written when the process exits (SIGTERM -> process.exit in the server).
      await server.stop();
    }
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error('no .cpuprofile written');
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    const requests = to.count - from.count;
    return {
      kind,
      scenario,
      seconds,
      ...summarizeProfile(profile, { top, requests, fromUs: from.nowUs, toUs: to.nowUs }),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
