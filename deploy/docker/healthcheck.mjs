// Container HEALTHCHECK for mcpkit: GET /health on the server's own port, exit 0 only for a 2xx whose
// JSON says {"status":"healthy"}. Runs with the image's node (slim and distroless images have no curl)
// and reads the same environment as the server, so a changed port or enabled TLS needs no edit here.
import { request as httpsRequest } from 'node:https';

const env = process.env;
const port = Number(env.MCP_SERVER_PORT || 8080);
const bound = env.MCP_SERVER_HOST || '0.0.0.0';
// A wildcard bind is reachable on loopback; a specific address is probed where the server listens.
const host = bound === '0.0.0.0' || bound === '::' || bound === '' ? '127.0.0.1' : bound;
const tls = Boolean(env.MCP_TLS_CERT_PATH && env.MCP_TLS_KEY_PATH);
// Under the HEALTHCHECK --timeout, so a hung server yields a clear message rather than a kill.
const timeoutMs = 2500;
const hostPart = host.includes(':') ? `[${host}]` : host;
const url = `${tls ? 'https' : 'http'}://${hostPart}:${port}/health`;

function healthy(status, body) {
  if (status < 200 || status >= 300) return false;
  try {
    return JSON.parse(body).status === 'healthy';
  } catch {
    return false;
  }
}

function probeHttps() {
  // The server's certificate names its public host, not the loopback address probed here; this
  // checks liveness, not identity.
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { rejectUnauthorized: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

async function probeHttp() {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, body: await res.text() };
}

try {
  const { status, body } = await (tls ? probeHttps() : probeHttp());
  if (!healthy(status, body)) {
    console.error(`unhealthy: ${url} answered ${status} ${body.slice(0, 200)}`);
    process.exit(1);
  }
  process.exit(0);
} catch (error) {
  console.error(`unhealthy: ${url}: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
