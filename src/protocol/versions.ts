/** The current (stateless, per-request `_meta`) protocol revision. */
export const LATEST_PROTOCOL_VERSION = '2026-07-28';

/** Every revision mcpkit speaks, newest first. */
export const SUPPORTED_PROTOCOL_VERSIONS = [
  '2026-07-28',
  '2025-11-25',
  '2025-06-18',
  '2025-03-26',
  '2024-11-05',
] as const;

export type ProtocolVersion = (typeof SUPPORTED_PROTOCOL_VERSIONS)[number];

/** Revisions negotiated through the `initialize` handshake. */
export const LEGACY_PROTOCOL_VERSIONS = SUPPORTED_PROTOCOL_VERSIONS.filter((v) => v < '2026-07-28');

/** The legacy revision a dual-era peer prefers when it has to fall back. */
export const LATEST_LEGACY_VERSION = '2025-11-25';

const supported = new Set<string>(SUPPORTED_PROTOCOL_VERSIONS);

export function isSupportedVersion(version: unknown): version is ProtocolVersion {
  return typeof version === 'string' && supported.has(version);
}

/** Modern revisions carry version and capabilities in every request's `_meta`. */
export function isModernVersion(version: string): boolean {
  return version >= '2026-07-28';
}

/** JSON-RPC batches were allowed only in 2025-03-26. */
export function allowsBatch(version: string | undefined): boolean {
  return version === '2025-03-26';
}

/**
 * Picks the version to answer an `initialize` with: the client's if we speak it,
 * else our newest legacy one (the spec lets the client decide whether to continue).
 */
export function negotiateLegacyVersion(requested: unknown, allowed: readonly string[]): string {
  if (typeof requested === 'string' && allowed.includes(requested) && !isModernVersion(requested)) {
    return requested;
  }
  const legacy = allowed.filter((v) => !isModernVersion(v));
  return legacy[0] ?? LATEST_LEGACY_VERSION;
}
