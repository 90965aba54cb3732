// Starting an HTTP server under test in its own pinned process, preparing a scenario (sessions,
// headers), checking it answers correctly, and measuring it under load.
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { cpuSeconds, rssBytes, spawnPinned } from './proc.js';
import {
  EXPECTED_TEXT,
  bodyOf,
  initHeaders,
  initializeMessage,
  initializedNotification,
  legacyCall,
  legacyHeaders,
  modernCall,
  modernHeaders,
  resultText,
} from './requests.js';
import { runLoad } from './wrk.js';

const SERVER_SCRIPT = fileURLToPath(new URL('../servers/http-server.js', import.meta.url));

/** Spawns `http-server.js --kind <kind>` pinned to `core`; resolves once it prints its port. */
export async function startHttpServer(kind, { core, args = [], nodeArgs = [] } = {}) {
  const child = spawnPinned(core, process.execPath, [...nodeArgs, SERVER_SCRIPT, '--kind', kind, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const ready = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${kind} server did not start within 20 s`)), 20_000);
    child.once('exit', (code) => reject(new Error(`${kind} server exited early (code ${code})`)));
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve(JSON.parse(line));
    });
  });
  const base = `http://127.0.0.1:${ready.port}`;
  return {
    pid: child.pid,
    child,
    url: `${base}/mcp`,
    lines,
    /** Request count and memory (after GC when started with --expose-gc) from the debug route. */
    async debug() {
      const res = await fetch(`${base}/__bench/mem`);
      return res.json();
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function post(url, body, headers) {
  const res = await fetch(url, {
    method: 'POST',
    headers,
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** Opens one legacy session (initialize + notifications/initialized); resolves with its id. */
export async function openSession(url, id = 1) {
  const init = await post(url, initializeMessage(id), initHeaders);
  const sessionId = init.headers.get('mcp-session-id');
  if (init.status !== 200 || !sessionId)
    throw new Error(`initialize failed: ${init.status} ${init.text.slice(0, 200)}`);
  const ack = await post(url, initializedNotification, legacyHeaders(sessionId));
  if (ack.status !== 202) throw new Error(`notifications/initialized answered ${ack.status}`);
  return sessionId;
}

/** Opens `count` sessions, `concurrency` at a time. */
export async function openSessions(url, count, concurrency = 16) {
  const ids = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      ids.push(await openSession(url));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return ids;
}

/**
 * The request template and header rotation for a scenario:
 * modern (2026-07-28 stateless), legacy-session (2025-11-25 over `sessions` sessions),
 * legacy-stateless (2025-11-25 tools/call with no session, for stateless servers).
 */
export async function prepareScenario(url, scenario, sessions) {
  switch (scenario) {
    case 'modern':
      return { template: modernCall, headerSets: [modernHeaders] };
    case 'legacy-session': {
      const ids = await openSessions(url, sessions);
      return { template: legacyCall, headerSets: ids.map((id) => legacyHeaders(id)) };
    }
    case 'legacy-stateless':
      return { template: legacyCall, headerSets: [legacyHeaders(undefined)] };
    default:
      throw new Error(`unknown scenario ${scenario}`);
  }
}

/** One request through the scenario, checked for the right answer before any load is applied. */
export async function verifyScenario(url, prepared) {
  const res = await post(url, bodyOf(prepared.template, 1), prepared.headerSets[0]);
  const text = resultText(res.text);
  if (res.status !== 200 || text !== EXPECTED_TEXT) {
    throw new Error(`scenario check failed: HTTP ${res.status} ${res.text.slice(0, 300)}`);
  }
}

/**
 * Full HTTP row: fresh server process, scenario, check, warmup, measured run.
 * Returns rps, latency, CPU µs per request (server process utime+stime over the run), RSS.
 */
export async function measureHttpRow(row, opts) {
  const server = await startHttpServer(row.kind, { core: opts.serverCore });
  try {
    const prepared = await prepareScenario(server.url, row.scenario, opts.sessions);
    await verifyScenario(server.url, prepared);
    const load = { url: server.url, ...prepared, connections: opts.connections, core: opts.loadCore };
    if (opts.warmup > 0) await runLoad({ ...load, seconds: opts.warmup });
    const cpu0 = cpuSeconds(server.pid);
    const result = await runLoad({ ...load, seconds: opts.duration });
    const cpu1 = cpuSeconds(server.pid);
    const cpu = cpu0 !== undefined && cpu1 !== undefined ? cpu1 - cpu0 : undefined;
    return {
      ...result,
      cpuUsPerReq: cpu !== undefined && result.requests > 0 ? (cpu * 1e6) / result.requests : undefined,
      serverCpuShare: cpu !== undefined ? cpu / result.seconds : undefined,
      rssBytes: rssBytes(server.pid),
    };
  } finally {
    await server.stop();
  }
}
