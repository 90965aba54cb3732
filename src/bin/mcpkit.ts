#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError, ENV_VARIABLES } from '../runtime/config.js';
import { serve } from '../runtime/serve.js';
import { McpServer } from '../server/server.js';
import { StdioServerTransport } from '../transport/stdio/server.js';

const USAGE = `Usage: mcpkit serve <module> [--stdio]

  <module> exports (default or named "server") an McpServer, or a function returning one.
  Serves Streamable HTTP with /health, /ready and /metrics, configured from the environment;
  --stdio serves a single client over stdin/stdout instead.

Environment:
${Object.entries(ENV_VARIABLES)
  .map(([name, text]) => `  ${name.padEnd(30)} ${text}`)
  .join('\n')}
`;

async function loadServer(spec: string): Promise<McpServer> {
  const url = pathToFileURL(isAbsolute(spec) ? spec : resolve(process.cwd(), spec)).href;
  const mod = (await import(url)) as Record<string, unknown>;
  let candidate = mod.default ?? mod.server ?? mod.createServer;
  if (typeof candidate === 'function' && !(candidate instanceof McpServer))
    candidate = await (candidate as () => unknown)();
  if (
    !(candidate instanceof McpServer) &&
    !(candidate && typeof (candidate as McpServer).handle === 'function')
  ) {
    throw new ConfigError(
      'module',
      `${spec} does not export an McpServer (default export, "server", or a factory function)`,
    );
  }
  return candidate as McpServer;
}

async function main(argv: string[]): Promise<void> {
  const [command, target, ...rest] = argv;
  if (command === '--version' || command === 'version') {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    process.stdout.write(`${pkg.version}\n`);
    return;
  }
  if (command !== 'serve' || !target) {
    process.stderr.write(USAGE);
    process.exit(command === '--help' || command === 'help' ? 0 : 64);
  }
  const server = await loadServer(target);
  if (rest.includes('--stdio')) {
    const connection = await server.connect(new StdioServerTransport());
    await connection.closed;
    process.exit(0);
  }
  await serve(server);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`mcpkit: configuration error: ${err.message}\n`);
    process.exit(ConfigError.EXIT_CODE);
  }
  process.stderr.write(`mcpkit: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
