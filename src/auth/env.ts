import { InvalidOptionError } from '../protocol/errors.js';
import { checkHttpsUrl } from './urls.js';

export interface OAuthEnvConfig {
  issuer: string;
  audience: string;
}

/**
 * Reads `MCP_OAUTH_ISSUER` and `MCP_OAUTH_AUDIENCE` (both or neither). Returns undefined when
 * neither is set, so a server can run without auth in development; the result spreads into
 * {@link bearerAuth} options. The issuer must be https, or http on a loopback host.
 */
export function authFromEnv(
  env: Readonly<Record<string, string | undefined>> = process.env,
): OAuthEnvConfig | undefined {
  const read = (name: string) => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const issuer = read('MCP_OAUTH_ISSUER');
  const audience = read('MCP_OAUTH_AUDIENCE');
  if (issuer === undefined && audience === undefined) return undefined;
  if (issuer === undefined)
    throw new InvalidOptionError('MCP_OAUTH_ISSUER', 'must be set when MCP_OAUTH_AUDIENCE is set');
  if (audience === undefined)
    throw new InvalidOptionError('MCP_OAUTH_AUDIENCE', 'must be set when MCP_OAUTH_ISSUER is set');
  checkHttpsUrl('MCP_OAUTH_ISSUER', issuer, { noQuery: true });
  checkHttpsUrl('MCP_OAUTH_AUDIENCE', audience);
  return { issuer, audience };
}
