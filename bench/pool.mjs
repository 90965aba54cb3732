#!/usr/bin/env node
// Calls/s through a ConnectionPool vs one shared client, against a real mcpkit HTTP server in
// its own process. Usage: node bench/pool.mjs [--seconds 5] [--concurrency 32]
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { McpClient } from '../dist/src/client/client.js';
import { createClientPool } from '../dist/src/client/pool-client.js';
import { StreamableHttpClientTransport } from '../dist/src/transport/http/client.js';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const seconds = arg('seconds', 5);
const concurrency = arg('concurrency', 32);
const root = fileURLToPath(new URL('..', import.meta.url));
const port = 19500 + Math.floor(Math.random() * 400);
const server = spawn(process.execPath, [`${root}dist/examples/everything/main.js`], {
  env: {
    ...process.env,
    MCP_SERVER_HOST: '127.0.0.1',
    MCP_SERVER_PORT: String(port),
    MCP_LOG_LEVEL: 'silent',
    MCP_RATE_LIMIT_REQUESTS: '100000000',
  },
  stdio: 'ignore',
});
const url = `http://127.0.0.1:${port}/mcp`;
for (let i = 0; i < 100; i++) {
  if (
    await fetch(`http://127.0.0.1:${port}/health`).then(
      (r) => r.ok,
      () => false,
    )
  )
    break;
  await new Promise((r) => setTimeout(r, 100));
}

async function drive(label, call) {
  let done = 0;
  const deadline = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        await call();
        done++;
      }
    }),
  );
  const rate = done / seconds;
  console.log(`${label.padEnd(44)} ${rate.toFixed(0).padStart(8)} calls/s`);
  return rate;
}

const results = {};
for (const era of ['modern', 'legacy']) {
  const shared = new McpClient({ name: 'bench', version: '1' }, { protocol: era });
  await shared.connect(new StreamableHttpClientTransport(url));
  results[`shared-${era}`] = await drive(`one shared client (${era})`, () =>
    shared.callTool('test_simple_text'),
  );
  await shared.close();
  const pool = createClientPool({ url, min: 4, max: 10, clientOptions: { protocol: era } });
  results[`pool-${era}`] = await drive(`pool min 4 max 10 (${era})`, () =>
    pool.use((c) => c.callTool('test_simple_text')),
  );
  console.log(`  pool stats: ${JSON.stringify(pool.stats)}`);
  await pool.close();
}
console.log(JSON.stringify({ concurrency, seconds, results }));
server.kill('SIGTERM');
