import type * as Jose from 'jose';
import { LocalError } from '../../protocol/errors.js';

let loading: Promise<typeof Jose> | undefined;

/**
 * jose is an optional peer: only private_key_jwt client authentication and DPoP need it, so it
 * is loaded on first use and an application that uses neither never has to install it.
 */
export function loadJose(): Promise<typeof Jose> {
  loading ??= import('jose').catch((err: unknown) => {
    loading = undefined;
    throw new LocalError(
      'INVALID_OPTION',
      'private_key_jwt and DPoP need the optional peer dependency "jose" (npm install jose)',
      { cause: err },
    );
  });
  return loading;
}

/** A PKCS#8 PEM string, a WebCrypto key, or a private JWK. */
export type PrivateKeyInput = string | CryptoKey | Jose.JWK;

export async function importPrivateKey(
  key: PrivateKeyInput,
  algorithm: string,
): Promise<CryptoKey | Uint8Array> {
  const jose = await loadJose();
  if (typeof key === 'string') return jose.importPKCS8(key, algorithm);
  if (typeof (key as CryptoKey).type === 'string' && (key as CryptoKey).algorithm !== undefined)
    return key as CryptoKey;
  const imported = await jose.importJWK(key as Jose.JWK, algorithm);
  return imported as CryptoKey | Uint8Array;
}
