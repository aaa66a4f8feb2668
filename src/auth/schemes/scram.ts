// SCRAM credentials (RFC 5802 §3): SaltedPassword = Hi(password, salt, i),
// StoredKey = H(HMAC(SaltedPassword, "Client Key")), ServerKey = HMAC(SaltedPassword, "Server Key").
// Dovecot stores them as `{SCRAM-SHA-256}iter,salt_b64,storedkey_b64,serverkey_b64`.
import { createHash, createHmac, pbkdf2 } from 'node:crypto';
import { decodeBase64Strict } from './util.js';

export type ScramHash = 'sha1' | 'sha256';

export interface ScramCredentials {
  hash: ScramHash;
  iterations: number;
  salt: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

export const SCRAM_DIGEST_LENGTH: Record<ScramHash, number> = { sha1: 20, sha256: 32 };

export function scramHashOfScheme(scheme: string): ScramHash | undefined {
  return scheme === 'SCRAM-SHA-1' ? 'sha1' : scheme === 'SCRAM-SHA-256' ? 'sha256' : undefined;
}

export function hmac(hash: ScramHash, key: Buffer, data: Buffer | string): Buffer {
  return createHmac(hash, key).update(data).digest();
}

export function digest(hash: ScramHash, data: Buffer): Buffer {
  return createHash(hash).update(data).digest();
}

export function saltedPassword(hash: ScramHash, password: Buffer, salt: Buffer, iterations: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    pbkdf2(password, salt, iterations, SCRAM_DIGEST_LENGTH[hash], hash, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export async function deriveScramCredentials(hash: ScramHash, password: Buffer, salt: Buffer, iterations: number): Promise<ScramCredentials> {
  const sp = await saltedPassword(hash, password, salt, iterations);
  const clientKey = hmac(hash, sp, 'Client Key');
  return { hash, iterations, salt, storedKey: digest(hash, clientKey), serverKey: hmac(hash, sp, 'Server Key') };
}

/** Parse Dovecot's stored form (without the `{SCHEME}` prefix). */
export function parseScramStored(hash: ScramHash, value: string): ScramCredentials | string {
  const parts = value.split(',');
  if (parts.length !== 4) return 'Invalid SCRAM data: expected iter,salt,storedkey,serverkey';
  const iterations = Number(parts[0]);
  if (!/^\d+$/.test(parts[0]) || iterations < 1 || iterations > 100_000_000) return 'Invalid SCRAM iteration count';
  const salt = decodeBase64Strict(parts[1]);
  const storedKey = decodeBase64Strict(parts[2]);
  const serverKey = decodeBase64Strict(parts[3]);
  const len = SCRAM_DIGEST_LENGTH[hash];
  if (!salt || salt.length === 0) return 'Invalid SCRAM salt';
  if (!storedKey || storedKey.length !== len || !serverKey || serverKey.length !== len) return 'Invalid SCRAM keys';
  return { hash, iterations, salt, storedKey, serverKey };
}

export function formatScramStored(c: ScramCredentials): string {
  return `${c.iterations},${c.salt.toString('base64')},${c.storedKey.toString('base64')},${c.serverKey.toString('base64')}`;
}
