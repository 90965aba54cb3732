/**
 * Client driver for the official conformance suite's `auth/*` scenarios: `<command> <serverUrl>`.
 * The suite passes the scenario in MCP_CONFORMANCE_SCENARIO, its credentials in
 * MCP_CONFORMANCE_CONTEXT and (0.2) the protocol version in MCP_CONFORMANCE_PROTOCOL_VERSION.
 * It connects with McpClient over StreamableHttpClientTransport authorized by OAuthClient, lists
 * the tools and calls the first one. The user's part of the authorization code flow is played
 * headlessly: the authorization URL is fetched without following redirects and the Location
 * header is the callback.
 */
import { OAuthClient, type OAuthGrant } from '../../src/client/auth/index.js';
import { McpClient } from '../../src/client/client.js';
import { StreamableHttpClientTransport } from '../../src/transport/http/client.js';

const REDIRECT_URI = 'http://localhost:3000/callback';
const CLIENT_METADATA_URL = 'https://conformance-test.local/client-metadata.json';

interface Context {
  client_id?: string;
  client_secret?: string;
  issuer?: string;
  private_key_pem?: string;
  signing_algorithm?: string;
  idp_id_token?: string;
  idp_token_endpoint?: string;
  idp_client_id?: string;
  valid_jwt?: string;
}

/** The browser's part: follow the authorization server's redirects until they reach the redirect URI. */
async function headlessRedirect(url: URL): Promise<string> {
  let next = url.href;
  for (let hop = 0; hop < 5; hop++) {
    const response = await fetch(next, { redirect: 'manual', signal: AbortSignal.timeout(10_000) });
    await response.body?.cancel();
    const location = response.headers.get('location');
    if (location === null)
      throw new Error(`authorization endpoint answered ${response.status} without a redirect`);
    next = new URL(location, next).href;
    if (next.startsWith(REDIRECT_URI)) return next;
  }
  throw new Error('too many redirects before the callback');
}

function grantFor(scenario: string, context: Context): OAuthGrant {
  if (context.private_key_pem !== undefined && context.client_id !== undefined) {
    return {
      type: 'client_credentials',
      clientId: context.client_id,
      privateKey: context.private_key_pem,
      algorithm: context.signing_algorithm ?? 'ES256',
    };
  }
  if (
    context.idp_id_token !== undefined &&
    context.idp_token_endpoint !== undefined &&
    context.client_id !== undefined
  ) {
    const grant: OAuthGrant = {
      type: 'enterprise_managed',
      clientId: context.client_id,
      idp: { tokenEndpoint: context.idp_token_endpoint, idToken: context.idp_id_token },
    };
    if (context.client_secret !== undefined) grant.clientSecret = context.client_secret;
    if (context.idp_client_id !== undefined) grant.idp.clientId = context.idp_client_id;
    return grant;
  }
  if (context.valid_jwt !== undefined) {
    const grant: OAuthGrant = { type: 'jwt_bearer', assertion: context.valid_jwt };
    if (context.client_id !== undefined) grant.clientId = context.client_id;
    return grant;
  }
  if (
    scenario.startsWith('auth/client-credentials') &&
    context.client_id !== undefined &&
    context.client_secret !== undefined
  ) {
    return { type: 'client_credentials', clientId: context.client_id, clientSecret: context.client_secret };
  }
  return {
    type: 'authorization_code',
    redirectUri: REDIRECT_URI,
    onRedirect: (request) => headlessRedirect(request.url),
  };
}

async function main(): Promise<void> {
  const serverUrl = process.argv.at(-1);
  if (serverUrl === undefined || !/^https?:\/\//.test(serverUrl))
    throw new Error('usage: auth-driver <serverUrl>');
  const scenario = process.env.MCP_CONFORMANCE_SCENARIO ?? '';
  const context = JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT ?? '{}') as Context;
  const version = process.env.MCP_CONFORMANCE_PROTOCOL_VERSION ?? '2025-11-25';
  const grant = grantFor(scenario, context);
  // Pre-registered credentials are bound to their issuer; 0.1 does not say which one it is.
  const preRegistered =
    grant.type === 'authorization_code' && context.client_id !== undefined
      ? {
          client_id: context.client_id,
          ...(context.client_secret !== undefined && { client_secret: context.client_secret }),
        }
      : undefined;
  const oauth = new OAuthClient({
    serverUrl,
    grant,
    clientMetadata: { client_name: 'mcpkit conformance client' },
    clientMetadataUrl: CLIENT_METADATA_URL,
    ...(preRegistered && {
      clients: context.issuer !== undefined ? { [context.issuer]: preRegistered } : () => preRegistered,
    }),
    dpop: true,
  });
  const extensions: Record<string, Record<string, never>> = {};
  if (grant.type === 'client_credentials')
    extensions['io.modelcontextprotocol/oauth-client-credentials'] = {};
  if (grant.type === 'enterprise_managed')
    extensions['io.modelcontextprotocol/enterprise-managed-authorization'] = {};
  const modern = version >= '2026-07-28';
  const client = new McpClient(
    { name: 'mcpkit-conformance-auth', version: '1.0.0' },
    {
      protocol: modern ? 'modern' : 'legacy',
      ...(!modern && { legacyVersion: version }),
      ...(Object.keys(extensions).length > 0 && { capabilities: { extensions } }),
      requestTimeoutMs: 20_000,
    },
  );
  const transport = new StreamableHttpClientTransport(serverUrl, {
    fetch: oauth.fetch,
    standaloneStream: false,
  });
  await client.connect(transport);
  try {
    const listed = await client.listTools();
    const tools = (listed.tools ?? []) as Array<{ name: string }>;
    const first = tools[0];
    if (first !== undefined) await client.callTool(first.name, {});
  } finally {
    await client.close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    const cause = err instanceof Error && err.cause instanceof Error ? ` (cause: ${err.cause.message})` : '';
    process.stderr.write(`auth-driver: ${err instanceof Error ? err.message : String(err)}${cause}\n`);
    process.exit(1);
  },
);
