import { describe, expect, it } from 'vitest';
import { OAuthClient, type OAuthClientOptions } from '../../src/client/auth/index.js';
import { InvalidOptionError } from '../../src/protocol/errors.js';

const code = {
  type: 'authorization_code' as const,
  redirectUri: 'http://127.0.0.1:8000/cb',
  onRedirect: () => undefined,
};
const base: OAuthClientOptions = { serverUrl: 'https://mcp.example.com/mcp', grant: code };

function optionError(options: unknown): string | undefined {
  try {
    new OAuthClient(options as OAuthClientOptions);
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidOptionError);
    return (err as InvalidOptionError).option;
  }
}

describe('OAuthClient options', () => {
  it('accepts a complete configuration', () => {
    expect(
      optionError({
        ...base,
        clientMetadataUrl: 'https://app.example.com/client.json',
        clients: { 'https://as.example.com': { client_id: 'x', client_secret: 'y' } },
        dpop: { algorithm: 'ES256' },
        timeoutMs: 5000,
        maxAuthorizations: 2,
        clientMetadata: { client_name: 'App', application_type: 'web' },
      }),
    ).toBeUndefined();
  });

  it('names the option that is wrong', () => {
    const cases: Array<[unknown, string]> = [
      [{ ...base, serverUrl: 'not a url' }, 'serverUrl'],
      [{ ...base, serverUrl: 'ftp://h/mcp' }, 'serverUrl'],
      [{ ...base, serverUrl: 'https://h/mcp#frag' }, 'serverUrl'],
      [{ ...base, grant: undefined }, 'grant'],
      [{ ...base, grant: { type: 'implicit' } }, 'grant.type'],
      [{ ...base, grant: { ...code, redirectUri: 'http://app.example.com/cb' } }, 'grant.redirectUri'],
      [{ ...base, grant: { ...code, onRedirect: 'x' } }, 'grant.onRedirect'],
      [{ ...base, grant: { type: 'client_credentials', clientId: 'a' } }, 'grant'],
      [{ ...base, grant: { type: 'client_credentials', clientId: '', clientSecret: 's' } }, 'grant.clientId'],
      [
        {
          ...base,
          grant: {
            type: 'client_credentials',
            clientId: 'a',
            clientSecret: 's',
            authMethod: 'private_key_jwt',
          },
        },
        'grant.privateKey',
      ],
      [{ ...base, grant: { type: 'jwt_bearer', assertion: '' } }, 'grant.assertion'],
      [
        {
          ...base,
          grant: { type: 'enterprise_managed', clientId: 'a', idp: { tokenEndpoint: 'nope', idToken: 't' } },
        },
        'grant.idp.tokenEndpoint',
      ],
      [{ ...base, clientMetadataUrl: 'http://app.example.com/client.json' }, 'clientMetadataUrl'],
      [{ ...base, clientMetadataUrl: 'https://app.example.com' }, 'clientMetadataUrl'],
      [{ ...base, clients: { 'https://as': { client_secret: 'x' } } }, 'clients[https://as].client_id'],
      [{ ...base, storage: { getTokens() {} } }, 'storage'],
      [{ ...base, timeoutMs: 0 }, 'timeoutMs'],
      [{ ...base, maxAuthorizations: 11 }, 'maxAuthorizations'],
      [{ ...base, dpop: { algorithm: 'HS256' } }, 'dpop.algorithm'],
      [{ ...base, dpop: 'yes' }, 'dpop'],
      [{ ...base, clientMetadata: { application_type: 'desktop' } }, 'clientMetadata.application_type'],
      [{ ...base, fetch: 42 }, 'fetch'],
    ];
    for (const [options, option] of cases) expect(optionError(options), option).toBe(option);
  });
});
