// HTTP load from wrk (preferred: a C load generator costs far less CPU per request than a Node one),
// driven by a generated Lua script that gives each request a unique JSON-RPC id and rotates
// session headers. Falls back to autocannon in its own process when wrk is not installed.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnPinned } from './proc.js';

const WRK = ['/usr/bin/wrk', '/usr/local/bin/wrk'].find((p) => existsSync(p));
export const loadGenerator = WRK ? 'wrk' : 'autocannon';

const luaString = (s) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;

/**
 * `headerSets`: one header object per rotation slot (e.g. one per session); request i uses
 * slot i mod n. The Lua side prints one machine-readable line from done().
 */
function luaScript(template, headerSets) {
  const sets = headerSets
    .map(
      (h) =>
        `{${Object.entries(h)
          .map(([k, v]) => `[${luaString(k)}]=${luaString(v)}`)
          .join(',')}}`,
    )
    .join(',\n  ');
  return `
wrk.method = "POST"
local prefix = ${luaString(template.prefix)}
local suffix = ${luaString(template.suffix)}
local sets = {
  ${sets}
}
local n = #sets
local id = 0
request = function()
  id = id + 1
  return wrk.format(nil, nil, sets[(id % n) + 1], prefix .. id .. suffix)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"durationUs":%d,"bytes":%d,"connectErrors":%d,"readErrors":%d,"writeErrors":%d,"statusErrors":%d,"timeouts":%d,"p50Us":%.0f,"p99Us":%.0f,"meanUs":%.1f,"maxUs":%.0f}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max))
end
`;
}

function collect(child) {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => {
      out += c;
    });
    child.stderr.on('data', (c) => {
      err += c;
    });
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, out, err }));
  });
}

/**
 * Runs load against `url` for `seconds` with `connections` keep-alive connections.
 * Resolves with { requests, seconds, rps, p50Ms, p99Ms, errors }.
 */
export async function runLoad({ url, template, headerSets, seconds, connections, core }) {
  if (!WRK) return runAutocannon({ url, template, headerSets, seconds, connections, core });
  const dir = mkdtempSync(join(tmpdir(), 'mcpkit-bench-'));
  try {
    const script = join(dir, 'load.lua');
    writeFileSync(script, luaScript(template, headerSets));
    // wrk takes whole seconds only.
    const secs = Math.max(1, Math.round(seconds));
    const child = spawnPinned(
      core,
      WRK,
      ['-t1', `-c${connections}`, `-d${secs}s`, '--timeout', '10s', '-s', script, url],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const { code, out, err } = await collect(child);
    const line = out.split('\n').find((l) => l.startsWith('WRKJSON '));
    if (code !== 0 || !line) throw new Error(`wrk failed (exit ${code}): ${err || out}`);
    const r = JSON.parse(line.slice('WRKJSON '.length));
    const measured = r.durationUs / 1e6;
    return {
      requests: r.requests,
      seconds: measured,
      rps: r.requests / measured,
      p50Ms: r.p50Us / 1000,
      p99Ms: r.p99Us / 1000,
      errors: r.connectErrors + r.readErrors + r.writeErrors + r.statusErrors + r.timeouts,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runAutocannon({ url, template, headerSets, seconds, connections, core }) {
  const worker = fileURLToPath(new URL('./autocannon-worker.js', import.meta.url));
  const spec = JSON.stringify({ url, template, headerSets, seconds, connections });
  const child = spawnPinned(core, process.execPath, [worker, spec], { stdio: ['ignore', 'pipe', 'pipe'] });
  const { code, out, err } = await collect(child);
  if (code !== 0) throw new Error(`autocannon worker failed (exit ${code}): ${err}`);
  return JSON.parse(out.trim().split('\n').pop());
}
