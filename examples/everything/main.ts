#!/usr/bin/env node
/**
 * The example production server: the everything server with metrics, health, rate limiting
 * and structured logs on. `--stdio` serves one client over stdin/stdout instead (logs go to stderr).
 */
import { ConfigError } from '../../src/runtime/config.js';
import { createRuntimeLogger } from '../../src/runtime/logging.js';
import { serve } from '../../src/runtime/serve.js';
import { StdioServerTransport } from '../../src/transport/stdio/server.js';
import { createEverythingServer } from './server.js';

const requestStateSecret = process.env.MCP_REQUEST_STATE_SECRET;
const server = createEverythingServer(requestStateSecret ? { requestStateSecret } : {});

if (process.argv.includes('--stdio')) {
  const logger = createRuntimeLogger({ level: process.env.MCP_LOG_LEVEL ?? 'warn', destination: 2 });
  const connection = await server.connect(new StdioServerTransport());
  logger.info({}, 'serving on stdio');
  await connection.closed;
  process.exit(0);
} else {
  try {
    await serve(server, {
      defaults: { host: '0.0.0.0', port: 8080, rateLimit: { requests: 6000, windowSecs: 60, burst: 600 } },
      rateLimit: {
        // The guide's per-tool example: expensive tools get tighter budgets than cheap ones.
        tools: {
          slow_compute: { requests: 10, windowMs: 60_000 },
          test_simple_text: { requests: 6000, windowMs: 60_000 },
        },
      },
      auditLog: true,
    });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`mcpkit: configuration error: ${err.message}\n`);
      process.exit(ConfigError.EXIT_CODE);
    }
    throw err;
  }
}
