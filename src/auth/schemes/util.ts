// Small helpers shared by the password schemes.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { CRYPT64 } from './des-crypt.js';

/** Constant-time equality; different lengths are unequal (still compared in constant time). */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) {
    timingSafeEqual(a, a);
    return false;
  }
  return timingSafeEqual(a, b);
}

/** Random characters of the crypt alphabet `./0-9A-Za-z` (salts of crypt-style hashes). */
export function cryptSalt(length: number): string {
  const bytes = randomBytes(length);
  let s = '';
  for (const b of bytes) s += CRYPT64[b & 0x3f];
  return s;
}

/** Strict base64 (RFC 4648 §4): padding optional, nothing but the alphabet. */
export function decodeBase64Strict(text: string): Buffer | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return undefined;
  const body = text.replace(/=+$/, '');
  if (body.length % 4 === 1) return undefined;
  if (text.length !== body.length && text.length % 4 !== 0 && body.length > 0) return undefined;
  return Buffer.from(body, 'base64');
}

export function decodeHexStrict(text: string): Buffer | undefined {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) return undefined;
  return Buffer.from(text, 'hex');
}
