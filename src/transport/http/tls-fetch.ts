import { X509Certificate, createHash } from 'node:crypto';
import { type PeerCertificate, checkServerIdentity } from 'node:tls';
import { InvalidOptionError } from '../../protocol/errors.js';

export interface TlsFetchOptions {
  /** Extra CA certificates (PEM) to trust, e.g. a private CA. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Client certificate and key for mTLS. */
  cert?: string | Buffer;
  key?: string | Buffer;
  /**
   * SPKI pins: `sha256/<base64>` of the server certificate's public key (HPKP format). The
   * connection is refused unless the leaf certificate matches one. Keep a backup pin.
   */
  pins?: readonly string[];
  /** Minimum TLS version, default TLSv1.2. */
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
}

/**
 * `sha256/<base64>` pin of a certificate's SubjectPublicKeyInfo (DER). Takes a PEM/DER
 * certificate or a peer certificate (whose `pubkey` is the raw key, not the SPKI, for EC).
 */
export function spkiPin(cert: string | Buffer | Pick<PeerCertificate, 'raw'>): string {
  const x509 = new X509Certificate(typeof cert === 'string' || Buffer.isBuffer(cert) ? cert : cert.raw);
  const spki = x509.publicKey.export({ type: 'spki', format: 'der' });
  return `sha256/${createHash('sha256').update(spki).digest('base64')}`;
}

/**
 * A `fetch` with a custom trust store, client certificates and certificate pinning, for
 * StreamableHttpClientTransport's `fetch` option. Uses undici (optional peer) because the
 * global fetch cannot take TLS options.
 */
export async function createTlsFetch(options: TlsFetchOptions): Promise<typeof fetch> {
  const pins = options.pins ?? [];
  for (const pin of pins) {
    if (!/^sha256\/[A-Za-z0-9+/]{43}=$/.test(pin))
      throw new InvalidOptionError('pins', `"${pin}" is not a sha256/<base64> SPKI pin`);
  }
  const undici = await import('undici');
  const connect: Record<string, unknown> = { minVersion: options.minVersion ?? 'TLSv1.2' };
  if (options.ca !== undefined) connect.ca = options.ca;
  if (options.cert !== undefined) connect.cert = options.cert;
  if (options.key !== undefined) connect.key = options.key;
  if (pins.length > 0) {
    connect.checkServerIdentity = (host: string, cert: PeerCertificate) => {
      const err = checkServerIdentity(host, cert);
      if (err) return err;
      const pin = spkiPin(cert);
      if (!pins.includes(pin)) return new Error(`Certificate pin mismatch for ${host}: got ${pin}`);
      return undefined;
    };
  }
  const dispatcher = new undici.Agent({ connect });
  const tlsFetch = (input: string | URL | Request, init?: RequestInit) =>
    undici.fetch(
      input as never,
      { ...(init as object), dispatcher } as never,
    ) as unknown as Promise<Response>;
  return tlsFetch as typeof fetch;
}
