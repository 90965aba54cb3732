// Drives one stdio server as a raw line writer/reader (no client library on the measured path),
// keeping a fixed number of tools/call requests in flight. Run pinned to the load core; it spawns
// the server pinned to the server core and prints one JSON result line on stdout.
// Usage: node bench/lib/stdio-driver.js --kind echo|mcpkit|sdk2|sdk1 --era modern|legacy
//          --inflight N --warmup S --duration S [--server-core C]
import { fileURLToPath } from 'node:url';
import { cpuSeconds, rssBytes, spawnPinned } from './proc.js';
import {
  EXPECTED_TEXT,
  bodyOf,
  initializeMessage,
  initializedNotification,
  legacyCall,
  modernCall,
} from './requests.js';
import { percentile } from './stats.js';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const kind = arg('--kind', 'echo');
const era = arg('--era', 'modern');
const inflight = Number(arg('--inflight', '1'));
const warmupMs = Number(arg('--warmup', '1')) * 1000;
const durationMs = Number(arg('--duration', '2')) * 1000;
const serverCore = arg('--server-core');

const serverScript = fileURLToPath(new URL('../servers/stdio-server.js', import.meta.url));
const child = spawnPinned(serverCore, process.execPath, [serverScript, '--kind', kind], {
  stdio: ['pipe', 'pipe', 'inherit'],
});
const template = era === 'legacy' ? legacyCall : modernCall;

let nextId = 1;
const starts = new Map();
const waiters = new Map();
let measuring = false;
let stopping = false;
let completed = 0;
let errors = 0;
const latencies = [];

function send(id) {
  starts.set(id, performance.now());
  return `${bodyOf(template, id)}\n`;
}

function onMessage(message) {
  const waiter = waiters.get(message.id);
  if (waiter) {
    waiters.delete(message.id);
    waiter(message);
    return '';
  }
  const started = starts.get(message.id);
  if (started === undefined) return '';
  starts.delete(message.id);
  if (measuring) {
    completed++;
    latencies.push(performance.now() - started);
    if (message.error) errors++;
  }
  return stopping ? '' : send(nextId++);
}

let pending = '';
child.stdout.setEncoding('utf8');
child.stdout.on('data', (chunk) => {
  pending += chunk;
  let out = '';
  let start = 0;
  for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n', start)) {
    const line = pending.slice(start, nl);
    start = nl + 1;
    if (line.length > 0) out += onMessage(JSON.parse(line));
  }
  pending = pending.slice(start);
  // One write per chunk batches the follow-up requests, as a real pipelining client would.
  if (out) child.stdin.write(out);
});

const request = (message) =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer to ${message.method} within 10 s`)), 10_000);
    waiters.set(message.id, (m) => {
      clearTimeout(timer);
      resolve(m);
    });
    child.stdin.write(`${JSON.stringify(message)}\n`);
  });

try {
  if (era === 'legacy') {
    const init = await request(initializeMessage(nextId++));
    if (!init.result) throw new Error(`initialize failed: ${JSON.stringify(init)}`);
    child.stdin.write(`${JSON.stringify(initializedNotification)}\n`);
  }
  const probe = await request(JSON.parse(bodyOf(template, nextId++)));
  if (probe.result?.content?.[0]?.text !== EXPECTED_TEXT) {
    throw new Error(`unexpected tools/call answer: ${JSON.stringify(probe)}`);
  }

  let out = '';
  for (let i = 0; i < inflight; i++) out += send(nextId++);
  child.stdin.write(out);
  await new Promise((r) => setTimeout(r, warmupMs));
  measuring = true;
  const cpu0 = cpuSeconds(child.pid);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, durationMs));
  measuring = false;
  stopping = true;
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = cpuSeconds(child.pid);
  const rss = rssBytes(child.pid);
  latencies.sort((a, b) => a - b);
  const result = {
    kind,
    era,
    inflight,
    requests: completed,
    seconds,
    rps: completed / seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    errors,
    cpuUsPerReq:
      cpu0 !== undefined && cpu1 !== undefined && completed > 0
        ? ((cpu1 - cpu0) * 1e6) / completed
        : undefined,
    serverCpuShare: cpu0 !== undefined && cpu1 !== undefined ? (cpu1 - cpu0) / seconds : undefined,
    rssBytes: rss,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
} catch (err) {
  process.stdout.write(`${JSON.stringify({ kind, era, inflight, error: String(err?.message ?? err) })}\n`);
  process.exitCode = 1;
} finally {
  child.stdin.end();
  const killTimer = setTimeout(() => child.kill('SIGKILL'), 2000);
  child.once('exit', () => {
    clearTimeout(killTimer);
    process.exit();
  });
}
