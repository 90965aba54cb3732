// A/B of the production layers (issue 11 target: all of them on together cost <= 25 % of throughput).
// A: plain `createNodeListener(server)`. B: `serve()` with metrics (default on), the access log at
// info (to a file, so the log is really written), a global rate limit set too high to reject, and
// bearer auth (JWT verified against a JWKS fetched once from a loopback issuer, then cached).
// Both serve the stateless 2026-07-28 `tools/call` of the zod `add` tool the main harness uses.
//
//   node bench/production-layers.mjs [--rounds 6] [--duration 5] [--warmup 3] [--connections 32]
//                                    [--profile] [--profile-top 25]
//
// Each server runs in its own process pinned to core 0; wrk and this process run on core 1.
// Rounds alternate A, B, A, B... against the same two warm processes; medians are reported.
// The same file is the server process: `--server plain|layers --port N [--issuer URL]`.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuSeconds, killSpawned, spawnPinned } from './lib/proc.js';
import { summarizeProfile } from './lib/profile.js';
import { profileTables, table } from './lib/report.js';
import { EXPECTED_TEXT, bodyOf, modernCall, modernHeaders, resultText } from './lib/requests.js';
import { runLoad } from './lib/wrk.js';
import { TOOL_DESCRIPTION, TOOL_NAME, addSchema, argValue, importMcpkit } from './servers/common.js';

const SELF = fileURLToPath(import.meta.url);
const SERVER_CORE = 0;
const LOAD_CORE = 1;

// ---------------------------------------------------------------------------------------------
// Server process
// ---------------------------------------------------------------------------------------------

async function runServer(kind) {
  const port = Number(argValue('--port'));
  const { McpServer } = await importMcpkit('server/server.js');
  const server = new McpServer({ name: 'bench', version: '1.0.0' });
  server.tool(TOOL_NAME, { description: TOOL_DESCRIPTION, inputSchema: addSchema() }, ({ a, b }) =>
    String(a + b),
  );
  let stop;
  if (kind === 'plain') {
    const { createNodeListener } = await importMcpkit('transport/http/node.js');
    const http = createServer(createNodeListener(server, { path: '/mcp' }));
    http.keepAliveTimeout = 60_000;
    await new Promise((resolve) => http.listen(port, '127.0.0.1', resolve));
    stop = async () => {};
  } else {
    const { serve } = await importMcpkit('runtime/serve.js');
    const issuer = argValue('--issuer');
    const handle = await serve(server, {
      signals: false,
      env: {
        MCP_SERVER_HOST: '127.0.0.1',
        MCP_SERVER_PORT: String(port),
        MCP_LOG_LEVEL: 'info',
        MCP_RATE_LIMIT_REQUESTS: '1000000000',
        MCP_RATE_LIMIT_WINDOW_SECS: '60',
        MCP_OAUTH_ISSUER: issuer,
        MCP_OAUTH_AUDIENCE: `http://127.0.0.1:${port}/mcp`,
      },
    });
    process.stderr.write(`FEATURES ${JSON.stringify(handle.features.names)}\n`);
    stop = () => handle.close();
  }
  // The orchestrator marks the profiled window with SIGUSR2: answer with the --cpu-prof clock (µs).
  process.on('SIGUSR2', () => process.stderr.write(`NOW ${Number(process.hrtime.bigint() / 1000n)}\n`));
  // A normal exit writes the --cpu-prof profile.
  process.on('SIGTERM', () => stop().finally(() => process.exit(0)));
  process.stderr.write(`READY ${process.pid}\n`);
}

// ---------------------------------------------------------------------------------------------
// Orchestrator
// ---------------------------------------------------------------------------------------------

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** A loopback authorization server: RFC 8414 metadata and the JWKS; the token is minted here too. */
async function startIssuer() {
  const { SignJWT, exportJWK, generateKeyPair } = await import('jose');
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'bench-1', alg: 'ES256', use: 'sig' };
  const counts = { metadata: 0, jwks: 0 };
  const http = createServer((req, res) => {
    let body;
    if (req.url === '/.well-known/oauth-authorization-server') {
      counts.metadata++;
      body = { issuer, jwks_uri: `${issuer}/jwks` };
    } else if (req.url === '/jwks') {
      counts.jwks++;
      body = { keys: [jwk] };
    }
    res.writeHead(body ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body ?? { error: 'not found' }));
  });
  await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${http.address().port}`;
  const mint = (audience) =>
    new SignJWT({ scope: 'mcp:tools', client_id: 'bench' })
      .setProtectedHeader({ alg: 'ES256', kid: 'bench-1', typ: 'at+jwt' })
      .setIssuer(issuer)
      .setAudience(audience)
      .setSubject('bench-user')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(privateKey);
  return { issuer, mint, counts, close: () => new Promise((resolve) => http.close(resolve)) };
}

async function startServer(kind, { issuer, logFile, nodeArgs = [] }) {
  const port = await freePort();
  const args = [...nodeArgs, SELF, '--server', kind, '--port', String(port)];
  if (issuer) args.push('--issuer', issuer);
  const out = logFile ? openSync(logFile, 'w') : 'ignore';
  const child = spawnPinned(SERVER_CORE, process.execPath, args, { stdio: ['ignore', out, 'pipe'] });
  if (typeof out === 'number') closeSync(out);
  let err = '';
  const waiters = [];
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c) => {
    err += c;
    for (const w of waiters.splice(0)) w();
  });
  const waitFor = (re, ms = 15_000) =>
    new Promise((resolve, reject) => {
      const deadline = setTimeout(
        () => reject(new Error(`${kind} server: no ${re} within ${ms} ms:\n${err}`)),
        ms,
      );
      const check = () => {
        const m = re.exec(err);
        if (m) {
          clearTimeout(deadline);
          resolve(m);
        } else if (child.exitCode !== null) {
          clearTimeout(deadline);
          reject(new Error(`${kind} server exited (${child.exitCode}):\n${err}`));
        } else waiters.push(check);
      };
      child.once('exit', () => waiters.splice(0).forEach((w) => w()));
      check();
    });
  await waitFor(/READY (\d+)/);
  const features = /FEATURES (.*)/.exec(err)?.[1];
  return {
    kind,
    pid: child.pid,
    url: `http://127.0.0.1:${port}/mcp`,
    features: features ? JSON.parse(features) : [],
    /** The server's profile clock now (µs), via SIGUSR2. */
    async now() {
      const before = err.length;
      child.kill('SIGUSR2');
      const m = await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no NOW answer')), 5000);
        const check = () => {
          const hit = /NOW (\d+)\n/.exec(err.slice(before));
          if (hit) {
            clearTimeout(timer);
            resolve(hit);
          } else waiters.push(check);
        };
        check();
      });
      return Number(m[1]);
    },
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => {
          clearTimeout(force);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

async function call(url, headers, id) {
  const res = await fetch(url, { method: 'POST', headers, body: bodyOf(modernCall, id) });
  return { status: res.status, text: await res.text() };
}

/** One correct answer with the headers wrk will send; for B also a 401 without the token. */
async function verify(server, headers) {
  const ok = await call(server.url, headers, 1);
  if (ok.status !== 200 || resultText(ok.text) !== EXPECTED_TEXT) {
    throw new Error(
      `${server.kind}: expected 200 with "${EXPECTED_TEXT}", got ${ok.status} ${ok.text.slice(0, 300)}`,
    );
  }
  if (headers.authorization) {
    const { authorization: _, ...anonymous } = headers;
    const refused = await call(server.url, anonymous, 2);
    if (refused.status !== 401)
      throw new Error(`${server.kind}: no token should get 401, got ${refused.status}`);
  }
}

async function measure(server, headers, seconds, connections) {
  const cpu0 = cpuSeconds(server.pid);
  const r = await runLoad({
    url: server.url,
    template: modernCall,
    headerSets: [headers],
    seconds,
    connections,
    core: LOAD_CORE,
  });
  const cpu1 = cpuSeconds(server.pid);
  const cpuUs = cpu0 !== undefined && cpu1 !== undefined ? ((cpu1 - cpu0) * 1e6) / r.requests : undefined;
  return {
    ...r,
    cpuUsPerReq: cpuUs,
    srvCpuPct: cpu0 !== undefined ? (100 * (cpu1 - cpu0)) / r.seconds : undefined,
  };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const f0 = (v) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(0) : '-');
const f1 = (v) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(1) : '-');

async function profileLayers({ issuer, headersFor, seconds, warmup, connections, top }) {
  const dir = mkdtempSync(join(tmpdir(), 'mcpkit-prodprof-'));
  try {
    const server = await startServer('layers', {
      issuer: issuer.issuer,
      logFile: join(dir, 'server.log'),
      nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`],
    });
    let from;
    let to;
    let load;
    try {
      const headers = await headersFor(server);
      await verify(server, headers);
      await runLoad({
        url: server.url,
        template: modernCall,
        headerSets: [headers],
        seconds: warmup,
        connections,
        core: LOAD_CORE,
      });
      from = await server.now();
      load = await runLoad({
        url: server.url,
        template: modernCall,
        headerSets: [headers],
        seconds,
        connections,
        core: LOAD_CORE,
      });
      to = await server.now();
    } finally {
      await server.stop();
    }
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error('no .cpuprofile written');
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    const summary = summarizeProfile(profile, { top, requests: load.requests, fromUs: from, toUs: to });
    return profileTables({
      ...summary,
      kind: 'mcpkit serve() + all layers',
      scenario: 'stateless tools/call',
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  const rounds = Number(argValue('--rounds', '6'));
  const seconds = Number(argValue('--duration', '5'));
  const warmup = Number(argValue('--warmup', '3'));
  const connections = Number(argValue('--connections', '32'));
  const top = Number(argValue('--profile-top', '25'));
  try {
    // Keep this process (and the issuer it hosts) off the server core.
    execFileSync('taskset', ['-a', '-cp', String(LOAD_CORE), String(process.pid)], { stdio: 'ignore' });
  } catch {
    // Unpinned: the numbers are still comparable A vs B.
  }
  const dir = mkdtempSync(join(tmpdir(), 'mcpkit-prodlayers-'));
  const issuer = await startIssuer();
  const servers = [];
  process.on('SIGINT', () => {
    killSpawned();
    rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  });
  const headersFor = async (server) => ({
    ...modernHeaders,
    authorization: `Bearer ${await issuer.mint(server.url)}`,
  });
  try {
    const logFile = join(dir, 'layers.log');
    const plain = await startServer('plain', {});
    servers.push(plain);
    const layers = await startServer('layers', { issuer: issuer.issuer, logFile });
    servers.push(layers);
    const headers = { plain: modernHeaders, layers: await headersFor(layers) };
    await verify(plain, headers.plain);
    await verify(layers, headers.layers);
    const load = (s) =>
      runLoad({
        url: s.url,
        template: modernCall,
        headerSets: [headers[s.kind]],
        seconds: warmup,
        connections,
        core: LOAD_CORE,
      });
    await load(plain);
    await load(layers);
    const logBytes0 = statSync(logFile).size;
    const runs = { plain: [], layers: [] };
    for (let i = 0; i < rounds; i++) {
      for (const s of [plain, layers]) {
        const r = await measure(s, headers[s.kind], seconds, connections);
        runs[s.kind].push(r);
        process.stderr.write(
          `round ${i + 1} ${s.kind}: ${f0(r.rps)} req/s, ${f1(r.cpuUsPerReq)} us/req, errors ${r.errors}\n`,
        );
      }
    }
    const measuredRequests = runs.layers.reduce((n, r) => n + r.requests, 0);
    const logBytes = statSync(logFile).size - logBytes0;
    const metrics = await (await fetch(layers.url.replace(/\/mcp$/, '/metrics'))).text();
    const toolCalls = metrics
      .split('\n')
      .filter((l) => l.startsWith('mcp_tool_invocations_total'))
      .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);

    const row = (label, rs) => [
      label,
      f0(median(rs.map((r) => r.rps))),
      f1(median(rs.map((r) => r.p50Ms))),
      f1(median(rs.map((r) => r.p99Ms))),
      f1(median(rs.map((r) => r.cpuUsPerReq))),
      f0(median(rs.map((r) => r.srvCpuPct))),
      String(rs.reduce((n, r) => n + r.errors, 0)),
      rs.map((r) => f0(r.rps)).join(' / '),
    ];
    const a = median(runs.plain.map((r) => r.rps));
    const b = median(runs.layers.map((r) => r.rps));
    const cpuA = median(runs.plain.map((r) => r.cpuUsPerReq));
    const cpuB = median(runs.layers.map((r) => r.cpuUsPerReq));
    const cost = 1 - b / a;
    const load1 = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    const lines = [
      `mcpkit production layers A/B: node ${process.version}, wrk -t1 -c${connections}, server core ${SERVER_CORE}, load core ${LOAD_CORE}`,
      `${rounds} rounds x ${seconds} s, alternating A/B on the same two warm processes (${warmup} s warmup each); medians`,
      `B features: ${layers.features.join(', ')}; access log ${f0(logBytes / measuredRequests)} bytes/request written; ` +
        `/metrics counted ${toolCalls} tool calls; issuer fetched metadata ${issuer.counts.metadata}x, JWKS ${issuer.counts.jwks}x`,
      '',
      table(
        ['server', 'req/s', 'p50 ms', 'p99 ms', 'CPU us/req', 'srv CPU %', 'errors', 'runs req/s'],
        [row('A createNodeListener (plain)', runs.plain), row('B serve() + all layers', runs.layers)],
      ),
      '',
      `cost of the layers: ${(100 * cost).toFixed(1)} % of req/s (target <= 25 %: ${cost <= 0.25 ? 'MET' : 'MISSED'}); ` +
        `CPU/req ${f1(cpuB)} vs ${f1(cpuA)} us (+${(100 * (cpuB / cpuA - 1)).toFixed(0)} %)`,
      `loadavg at end: ${load1}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    for (const s of servers.splice(0)) await s.stop();
    if (process.argv.includes('--profile')) {
      const tables = await profileLayers({ issuer, headersFor, seconds, warmup, connections, top });
      process.stdout.write(`\n${tables}\n`);
    }
  } finally {
    for (const s of servers) await s.stop();
    await issuer.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const serverKind = argValue('--server');
if (serverKind === 'plain' || serverKind === 'layers') {
  await runServer(serverKind);
} else if (serverKind !== undefined) {
  process.stderr.write(`unknown --server ${serverKind}; one of plain, layers\n`);
  process.exit(2);
} else {
  await main();
}
