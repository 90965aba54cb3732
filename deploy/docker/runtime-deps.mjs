// Prepares package.json for the image's production install (`npm ci --omit=dev`).
//
// mcpkit's heavy dependencies (ioredis, prom-client, ws, jose, @opentelemetry/api, snappyjs, zod) are
// optional peerDependencies, kept in devDependencies for the repo's own tests. `npm ci --omit=dev`
// would therefore leave out exactly what the production server uses for Redis, /metrics, WebSocket
// and OAuth. This moves every optional peer that is a devDependency into dependencies, in the build
// container only, so that `npm ci --omit=dev` installs it at the version package-lock.json pins.
// Usage: node runtime-deps.mjs [path/to/package.json]
import { readFileSync, writeFileSync } from 'node:fs';

const path = process.argv[2] ?? 'package.json';
const pkg = JSON.parse(readFileSync(path, 'utf8'));
const promoted = [];
pkg.dependencies ??= {};
for (const name of Object.keys(pkg.peerDependencies ?? {})) {
  const range = pkg.devDependencies?.[name];
  if (range === undefined || pkg.dependencies[name] !== undefined) continue;
  pkg.dependencies[name] = range;
  delete pkg.devDependencies[name];
  promoted.push(`${name}@${range}`);
}
writeFileSync(path, `${JSON.stringify(pkg, null, 2)}\n`);
console.log(
  promoted.length > 0 ? `runtime dependencies added: ${promoted.join(', ')}` : 'no optional peers to add',
);
