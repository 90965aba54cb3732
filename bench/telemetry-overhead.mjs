// A/B of what the telemetry middleware costs in HTTP throughput. Each variant is its own server
// process built from dist/ (createNodeListener + McpServer with a zod `add` tool), pinned to core 0;
// wrk is pinned to core 1 and sends 2026-07-28 tools/call requests. Variants are loaded in turn
// (A, B, C, A, B, C, ...) so drift on the machine hits them all alike; the medians of req/s and of
// server CPU per request (from /proc, robust to other load on the box) are compared.
//
//   node bench/telemetry-overhead.mjs [--rounds 6] [--seconds 5] [--connections 32] [--warmup 3]
//
// Needs dist/ (npx tsc -p tsconfig.build.json) and prom-client; @opentelemetry/api for the
// tracing variant (no SDK registered, so spans are non-recording: the cost of the hook alone).
import { once } from 'node:events';
import { createServer } from 'node:http';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { cpuSeconds, killSpawned, spawnPinned } from './lib/proc.js';
import { modernCall, modernHeaders, resultText } from './lib/requests.js';
import { loadGenerator, runLoad } from './lib/wrk.js';
import { TOOL_DESCRIPTION, TOOL_NAME, addSchema, argValue, importMcpkit } from './servers/common.js';

const VARIANTS = {
  none: 'no telemetry',
  metrics: 'createMetrics().middleware',
  'metrics+tracing': 'metrics + tracing() (no OTel SDK)',
};
const SERVER_CORE = 0;
const LOAD_CORE = 1;
/** Answers with the metrics exposition; the same URL compare runs in every variant. */
const METRICS_PATH = '/__bench/metrics';

async function serveVariant(variant) {
  const { McpServer } = await importMcpkit('server/server.js');
  const { createNodeListener } = await importMcpkit('transport/http/node.js');
  const server = new McpServer({ name: 'bench', version: '1.0.0' });
  let metrics;
  if (variant !== 'none') {
    const telemetry = await importMcpkit('telemetry/index.js');
    metrics = telemetry.createMetrics({ knownTools: () => new Set(server.tools.keys()) });
    // Outermost, as serve() installs it.
    server.use(metrics.middleware);
    if (variant === 'metrics+tracing') server.use(telemetry.tracing());
  }
  server.tool(TOOL_NAME, { description: TOOL_DESCRIPTION, inputSchema: addSchema() }, ({ a, b }) =>
    String(a + b),
  );
  const listener = createNodeListener(server, { path: '/mcp' });
  const http = createServer((req, res) => {
    if (req.url === METRICS_PATH) {
      if (!metrics) return res.writeHead(404).end();
      void metrics.render().then((e) => res.writeHead(200, { 'content-type': e.contentType }).end(e.body));
      return;
    }
    listener(req, res);
  });
  http.keepAliveTimeout = 60_000;
  http.listen(0, '127.0.0.1', () =>
    process.stdout.write(`${JSON.stringify({ port: http.address().port })}\n`),
  );
  process.on('SIGTERM', () => process.exit(0));
}

async function startServer(variant) {
  const self = fileURLToPath(import.meta.url);
  const child = spawnPinned(SERVER_CORE, process.execPath, [self, '--serve', variant], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  for await (const chunk of child.stdout) {
    out += chunk;
    if (out.includes('\n')) break;
  }
  clearTimeout(timer);
  const { port } = JSON.parse(out.split('\n')[0] ?? '{}');
  if (!port) throw new Error(`server ${variant} did not start: ${out}`);
  return { variant, child, base: `http://127.0.0.1:${port}` };
}

async function stopServer(s) {
  if (s.child.exitCode !== null) return;
  const exited = once(s.child, 'exit');
  s.child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
  if (s.child.exitCode === null) s.child.kill('SIGKILL');
}

/** One real request first: a variant that answers wrongly must not be measured. */
async function check(s) {
  const body = `${modernCall.prefix}1${modernCall.suffix}`;
  const res = await fetch(`${s.base}/mcp`, {
    method: 'POST',
    headers: modernHeaders,
    body,
    signal: AbortSignal.timeout(5_000),
  });
  const text = await res.text();
  if (res.status !== 200 || resultText(text) !== '3')
    throw new Error(`${s.variant}: bad answer ${res.status} ${text}`);
}

/** tools/call ok count from the variant's own registry (undefined without metrics). */
async function countedCalls(s) {
  const res = await fetch(`${s.base}${METRICS_PATH}`, { signal: AbortSignal.timeout(5_000) });
  if (res.status === 404) return undefined;
  const m = /^mcp_requests_total\{method="tools\/call",status="ok"\} (\d+)/m.exec(await res.text());
  return m ? Number(m[1]) : 0;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};

async function main() {
  const rounds = Number(argValue('--rounds', '6'));
  const seconds = Number(argValue('--seconds', '5'));
  const connections = Number(argValue('--connections', '32'));
  const warmup = Number(argValue('--warmup', '3'));
  for (const [name, v] of [
    ['--rounds', rounds],
    ['--seconds', seconds],
    ['--connections', connections],
  ]) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer`);
  }
  if (loadGenerator !== 'wrk') throw new Error('wrk is required (/usr/bin/wrk)');

  const servers = [];
  const startLoad = loadavg()[0];
  process.on('SIGINT', () => {
    killSpawned();
    process.exit(130);
  });
  try {
    for (const variant of Object.keys(VARIANTS)) servers.push(await startServer(variant));
    const load = (s, secs) =>
      runLoad({
        url: `${s.base}/mcp`,
        template: modernCall,
        headerSets: [modernHeaders],
        seconds: secs,
        connections,
        core: LOAD_CORE,
      });
    const sent = new Map(servers.map((s) => [s.variant, 0]));
    for (const s of servers) {
      await check(s);
      sent.set(s.variant, 1);
      if (warmup > 0) sent.set(s.variant, sent.get(s.variant) + (await load(s, warmup)).requests);
    }
    const rps = new Map(servers.map((s) => [s.variant, []]));
    // Server CPU per request does not depend on how much of its core the server got, so it survives
    // other load on the machine far better than req/s does.
    const cpuUs = new Map(servers.map((s) => [s.variant, []]));
    for (let round = 1; round <= rounds; round++) {
      const line = [];
      for (const s of servers) {
        const cpuBefore = cpuSeconds(s.child.pid);
        const r = await load(s, seconds);
        const cpuAfter = cpuSeconds(s.child.pid);
        if (cpuBefore !== undefined && cpuAfter !== undefined && r.requests > 0) {
          cpuUs.get(s.variant).push(((cpuAfter - cpuBefore) * 1e6) / r.requests);
        }
        if (r.errors > 0) throw new Error(`${s.variant}: ${r.errors} errors in round ${round}`);
        rps.get(s.variant).push(r.rps);
        sent.set(s.variant, sent.get(s.variant) + r.requests);
        line.push(
          `${s.variant} ${r.rps.toFixed(0)} req/s ${(cpuUs.get(s.variant).at(-1) ?? Number.NaN).toFixed(1)} µs/req`,
        );
      }
      process.stderr.write(`round ${round}/${rounds}: ${line.join(', ')}\n`);
    }
    // wrk counts completed responses; the registry must have seen at least those (in-flight ones at
    // the end of a run are answered but not counted by wrk).
    for (const s of servers) {
      const counted = await countedCalls(s);
      if (counted !== undefined && counted < sent.get(s.variant)) {
        throw new Error(
          `${s.variant}: metrics counted ${counted} calls, wrk completed ${sent.get(s.variant)}`,
        );
      }
    }

    // Other work on the machine skews every variant's absolute numbers; the interleaving keeps the ratio fair.
    const load1 = `load average before ${startLoad.toFixed(2)}, after ${loadavg()[0].toFixed(2)}`;
    console.log(
      `\ntelemetry overhead: ${rounds} rounds x ${seconds}s, wrk -t1 -c${connections}, server on core ${SERVER_CORE}, wrk on core ${LOAD_CORE}, node ${process.version}, ${load1}\n`,
    );
    // Per-round ratios pair each variant with the `none` run next to it, so slow drift cancels out.
    console.log(
      '| variant | median req/s | min | max | req/s vs none (per-round) | server CPU µs/req (median) | CPU vs none |',
    );
    console.log('|---|---:|---:|---:|---:|---:|---:|');
    const cpuBase = median(cpuUs.get('none'));
    for (const s of servers) {
      const xs = rps.get(s.variant);
      const m = median(xs);
      const none = rps.get('none');
      const paired = median(xs.map((x, i) => x / none[i]));
      const cpu = median(cpuUs.get(s.variant));
      const pct = (x) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;
      const ratio = s.variant === 'none' ? '—' : pct(paired - 1);
      const cpuDelta = s.variant === 'none' ? '—' : pct(cpu / cpuBase - 1);
      console.log(
        `| ${VARIANTS[s.variant]} | ${m.toFixed(0)} | ${Math.min(...xs).toFixed(0)} | ${Math.max(...xs).toFixed(0)} | ${ratio} | ${cpu.toFixed(1)} | ${cpuDelta} |`,
      );
    }
  } finally {
    await Promise.all(servers.map(stopServer));
  }
}

if (process.argv.includes('--serve')) await serveVariant(argValue('--serve'));
else await main();
