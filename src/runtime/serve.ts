import { readFileSync, watch } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { McpServer } from '../server/server.js';
import { type NodeHandlerOptions, createNodeListener, pathOf } from '../transport/http/node.js';
import { type LegacySseOptions, createLegacySseListener } from '../transport/http/sse-2024.js';
import { type Logger, silentLogger } from '../util/logger.js';
import { accessLog } from './access-log.js';
import { ConfigError, type RuntimeConfig, loadConfig } from './config.js';
import { type Features, type ServeFeatureOptions, enableFeatures } from './features.js';
import { type HealthCheck, HealthChecks } from './health.js';
import { type RuntimeLogger, createRuntimeLogger } from './logging.js';

export interface ServeOptions extends ServeFeatureOptions {
  /** Environment to read (default process.env); variables override `defaults`. */
  env?: Record<string, string | undefined>;
  /** Code defaults for the settings the environment can override. */
  defaults?: Partial<RuntimeConfig>;
  /** MCP endpoint path (default /mcp). */
  path?: string;
  logger?: RuntimeLogger;
  /** Extra Streamable HTTP options (authenticate, event store, timeouts...). */
  http?: NodeHandlerOptions;
  /** Readiness checks by name, in addition to the built-in ones. */
  checks?: Record<string, HealthCheck>;
  /** Handle SIGTERM/SIGINT (graceful drain, then exit) and SIGHUP (TLS reload). Default true. */
  signals?: boolean;
  /** TLS tuning beyond the env cert/key: cipher list, minimum version (default TLSv1.2). */
  tls?: { ciphers?: string; minVersion?: 'TLSv1.2' | 'TLSv1.3' };
  /** Version reported by /health (default: the server's version). */
  version?: string;
  /** WebSocket upgrades at the MCP path (needs the optional peer `ws`). Default true; off silently without `ws`. */
  websocket?: boolean | import('../transport/websocket/server.js').WebSocketAttachOptions;
  /** Also serve the deprecated 2024-11-05 HTTP+SSE transport at /sse and /messages (default off). */
  legacySse?: boolean | LegacySseOptions;
}

export interface ServeHandle {
  readonly url: string;
  readonly address: AddressInfo;
  readonly adminAddress: AddressInfo | undefined;
  readonly config: RuntimeConfig;
  readonly health: HealthChecks;
  readonly logger: RuntimeLogger;
  readonly http: Server;
  readonly features: Features;
  /** True once shutdown started. */
  readonly draining: boolean;
  /** Drains and stops: in-flight requests finish (bounded by the shutdown timeout). Idempotent. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const JSON_TYPE = { 'content-type': 'application/json', 'cache-control': 'no-store' };

/**
 * Runs an McpServer in production: Streamable HTTP (both eras) plus /health, /ready and
 * /metrics, configuration from the environment, structured logs, rate limiting, TLS with
 * hot reload and graceful shutdown.
 */
export async function serve(server: McpServer, options: ServeOptions = {}): Promise<ServeHandle> {
  const config = loadConfig(options.env ?? process.env, options.defaults);
  const logger = options.logger ?? createRuntimeLogger({ level: config.logLevel, format: config.logFormat });
  const log = logger.module('runtime');
  if (server.logger === silentLogger) server.logger = logger.module('server');
  const health = new HealthChecks(options.version ?? server.info.version);
  for (const [name, check] of Object.entries(options.checks ?? {})) health.add(name, check);

  const features = await enableFeatures(server, config, options, logger, health);
  if (options.accessLog !== false)
    server.use(accessLog({ logger: logger.module('access'), audit: features.audit }));

  const httpOptions: NodeHandlerOptions = {
    ...options.http,
    path: options.path ?? options.http?.path ?? '/mcp',
    maxBodyBytes: config.maxBodyBytes,
    hooks: {
      sessionOpened: () => {
        features.metrics?.sessionOpened();
        options.http?.hooks?.sessionOpened?.();
      },
      sessionClosed: () => {
        features.metrics?.sessionClosed();
        options.http?.hooks?.sessionClosed?.();
      },
      streamOpened: () => {
        features.metrics?.streamOpened();
        options.http?.hooks?.streamOpened?.();
      },
      streamClosed: () => {
        features.metrics?.streamClosed();
        options.http?.hooks?.streamClosed?.();
      },
    },
  };
  if (config.allowedHosts !== undefined) httpOptions.allowedHosts = config.allowedHosts;
  if (config.maxSessions !== undefined) httpOptions.maxSessions = config.maxSessions;
  if (config.sessionIdleTimeoutSecs !== undefined)
    httpOptions.sessionIdleTimeoutMs = config.sessionIdleTimeoutSecs * 1000;
  if (features.authenticate && !httpOptions.authenticate) httpOptions.authenticate = features.authenticate;
  if (features.errorChallenge && !httpOptions.errorChallenge)
    httpOptions.errorChallenge = features.errorChallenge;
  if (features.eventStore && httpOptions.eventStore === undefined)
    httpOptions.eventStore = features.eventStore;
  const mcp = createNodeListener(server, httpOptions);
  if (mcp.handler.sessions)
    health.add('sessions', () => ({ healthy: true, message: `${mcp.handler.sessions?.size ?? 0} active` }));

  const legacySse = options.legacySse
    ? createLegacySseListener(server, {
        maxBodyBytes: config.maxBodyBytes,
        ...(options.legacySse === true ? {} : options.legacySse),
      })
    : undefined;
  const ssePaths = legacySse
    ? new Set([
        (options.legacySse as LegacySseOptions).ssePath ?? '/sse',
        (options.legacySse as LegacySseOptions).messagesPath ?? '/messages',
      ])
    : undefined;

  let draining = false;
  let inflight = 0;
  let onIdle: (() => void) | undefined;

  const adminRoutes = async (req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> => {
    if (path === '/health') {
      res.writeHead(200, JSON_TYPE).end(JSON.stringify(health.health()));
      return true;
    }
    if (path === '/ready') {
      const ready = await health.ready();
      res.writeHead(ready.ready ? 200 : 503, JSON_TYPE).end(JSON.stringify(ready));
      return true;
    }
    if (path === '/metrics' && features.metrics) {
      const exposition = await features.metrics.render(req.headers.accept);
      res.writeHead(200, { 'content-type': exposition.contentType }).end(exposition.body);
      return true;
    }
    return false;
  };

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    const path = pathOf(req.url);
    if (config.adminPort === undefined && (path === '/health' || path === '/ready' || path === '/metrics')) {
      adminRoutes(req, res, path).catch((err: unknown) => {
        log.error({ err }, 'admin route failed');
        if (!res.headersSent) res.writeHead(500, JSON_TYPE).end('{"error":"internal"}');
      });
      return;
    }
    if (features.wellKnown?.(req, res)) return;
    if (draining) {
      // Kept-alive connections may still send: tell them to go elsewhere and close.
      res.writeHead(503, { ...JSON_TYPE, connection: 'close', 'retry-after': '1' });
      res.end(
        JSON.stringify({
          jsonrpc: '2.0',
          id: null,
          error: { code: -32603, message: 'Server is shutting down' },
        }),
      );
      return;
    }
    inflight++;
    res.once('close', () => {
      inflight--;
      if (inflight === 0) onIdle?.();
    });
    if (ssePaths?.has(path)) legacySse?.(req, res);
    else mcp(req, res);
  };

  const http = createHttp(config, options, listener, log);
  // Longer than the usual 60 s proxy idle timeout, so the proxy closes first and never races us.
  http.keepAliveTimeout = config.keepAliveTimeoutMs;
  http.headersTimeout = config.headersTimeoutMs;
  http.requestTimeout = config.requestTimeoutMs;
  http.on('connection', (socket: Socket) => {
    features.metrics?.connectionOpened('http');
    socket.once('close', () => features.metrics?.connectionClosed('http'));
  });
  http.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    // Malformed HTTP, header overflow, slowloris timeouts: answer if we can and never crash.
    if (socket.writable && !socket.writableEnded) {
      const status =
        err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
      socket.end(
        `HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
      );
    } else socket.destroy();
  });
  let websocket: { close(): Promise<void> } | undefined;
  if (options.websocket !== false) {
    try {
      const ws = await import('../transport/websocket/server.js');
      const wsOptions =
        options.websocket === true || options.websocket === undefined ? {} : options.websocket;
      websocket = ws.attachWebSocket(http, server, {
        path: httpOptions.path as string,
        ...(config.allowedHosts !== undefined ? { allowedHosts: config.allowedHosts } : {}),
        ...(features.authenticate ? { authenticate: features.authenticate as never } : {}),
        hooks: {
          connectionOpened: () => features.metrics?.connectionOpened('websocket'),
          connectionClosed: () => features.metrics?.connectionClosed('websocket'),
        },
        ...wsOptions,
      });
      features.names.push('websocket');
    } catch (err) {
      if (options.websocket)
        throw new ConfigError(
          'websocket',
          `WebSocket needs the optional peer ws (npm i ws): ${(err as Error).message}`,
        );
    }
  }
  await listen(http, config.port, config.host);
  const address = http.address() as AddressInfo;

  let admin: Server | undefined;
  if (config.adminPort !== undefined) {
    admin = createServer((req, res) => {
      adminRoutes(req, res, pathOf(req.url)).then(
        (handled) => {
          if (!handled) res.writeHead(404, JSON_TYPE).end('{"error":"not found"}');
        },
        () => res.writeHead(500, JSON_TYPE).end('{"error":"internal"}'),
      );
    });
    await listen(admin, config.adminPort, config.host);
  }

  const scheme = config.tls ? 'https' : 'http';
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `${scheme}://${shownHost === '0.0.0.0' || shownHost === '[::]' ? '127.0.0.1' : shownHost}:${address.port}${httpOptions.path}`;
  log.info(
    {
      url,
      tls: Boolean(config.tls),
      admin_port: admin ? (admin.address() as AddressInfo).port : undefined,
      features: features.names,
    },
    'listening',
  );

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      draining = true;
      health.draining = true;
      log.info({ inflight, timeout_ms: config.shutdownTimeoutMs }, 'draining');
      const closed = new Promise<void>((resolve) => http.close(() => resolve()));
      http.closeIdleConnections();
      mcp.handler.drain();
      await websocket?.close();
      await legacySse?.close();
      await server.close();
      const idle = inflight === 0 ? Promise.resolve() : new Promise<void>((resolve) => (onIdle = resolve));
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = await Promise.race([
        idle.then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), config.shutdownTimeoutMs);
        }),
      ]);
      clearTimeout(timer);
      if (timedOut) log.warn({ inflight }, 'shutdown deadline reached; closing remaining connections');
      await mcp.handler.close({ force: true });
      await features.close();
      http.closeAllConnections();
      await closed;
      if (admin) {
        admin.closeAllConnections();
        await new Promise((resolve) => admin?.close(resolve));
      }
      log.info({}, 'stopped');
    })();
    return closing;
  };

  if (options.signals !== false) installSignals(close, config, log, http, options);

  return {
    url,
    address,
    adminAddress: admin ? (admin.address() as AddressInfo) : undefined,
    config,
    health,
    logger,
    http,
    features,
    get draining() {
      return draining;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) =>
      reject(
        new ConfigError('MCP_SERVER_PORT', `cannot listen on ${host}:${port}: ${err.code ?? err.message}`),
      );
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function readTls(config: RuntimeConfig) {
  const tls = config.tls as NonNullable<RuntimeConfig['tls']>;
  const read = (path: string, variable: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new ConfigError(
        variable,
        `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
  };
  const out: { cert: Buffer; key: Buffer; ca?: Buffer } = {
    cert: read(tls.certPath, 'MCP_TLS_CERT_PATH'),
    key: read(tls.keyPath, 'MCP_TLS_KEY_PATH'),
  };
  if (tls.caPath) out.ca = read(tls.caPath, 'MCP_TLS_CA_PATH');
  return out;
}

function createHttp(
  config: RuntimeConfig,
  options: ServeOptions,
  listener: (req: IncomingMessage, res: ServerResponse) => void,
  log: Logger,
): Server {
  // Node checks header/request timeouts every connectionsCheckingInterval (default 30 s): check often
  // enough that a slowloris client is dropped close to its deadline.
  const checking = {
    connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(config.headersTimeoutMs / 2))),
  };
  if (!config.tls) return createServer(checking, listener);
  const material = readTls(config);
  const server = createHttpsServer(
    {
      ...checking,
      ...material,
      minVersion: options.tls?.minVersion ?? 'TLSv1.2',
      ...(options.tls?.ciphers ? { ciphers: options.tls.ciphers } : {}),
      honorCipherOrder: true,
      requestCert: config.tls.requestClientCert,
      rejectUnauthorized: config.tls.requestClientCert,
    },
    listener,
  );
  // Certificates rotate (cert-manager, ACME): reload on file change without dropping connections.
  let debounce: ReturnType<typeof setTimeout> | undefined;
  const reload = () => {
    try {
      server.setSecureContext({ ...readTls(config), minVersion: options.tls?.minVersion ?? 'TLSv1.2' });
      log.info({ cert: config.tls?.certPath }, 'TLS certificate reloaded');
    } catch (err) {
      log.error({ err }, 'TLS reload failed; keeping the previous certificate');
    }
  };
  (server as unknown as { reloadTls: () => void }).reloadTls = reload;
  try {
    const watcher = watch(config.tls.certPath, () => {
      clearTimeout(debounce);
      debounce = setTimeout(reload, 200);
    });
    watcher.unref();
    server.once('close', () => watcher.close());
  } catch {
    // No file watching on this platform: SIGHUP still reloads.
  }
  return server as unknown as Server;
}

function installSignals(
  close: () => Promise<void>,
  config: RuntimeConfig,
  log: Logger,
  http: Server,
  options: ServeOptions,
): void {
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    signalled = true;
    log.info({ signal }, 'shutdown requested');
    const force = setTimeout(() => {
      log.error({}, 'shutdown deadline exceeded: forcing exit');
      process.exit(1);
    }, config.shutdownTimeoutMs + 5000);
    force.unref();
    close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  if (config.tls && options.signals !== false) {
    process.on('SIGHUP', () => (http as unknown as { reloadTls?: () => void }).reloadTls?.());
  }
}
