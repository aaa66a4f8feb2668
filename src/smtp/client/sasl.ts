// Client side of SASL PLAIN (RFC 4616) and LOGIN (draft-murchison-sasl-login) for
// AUTH to a relayhost (smtp_sasl_auth_enable). Kept here until src/auth/sasl-client.ts
// (issue #5) exports the same; then this file should import from there.

export type ClientMechanism = 'PLAIN' | 'LOGIN';

/** The initial response of PLAIN: authzid NUL authcid NUL password, base64. */
export function plainInitialResponse(user: string, password: string, authzid = ''): string {
  return Buffer.from(`${authzid}\0${user}\0${password}`, 'utf8').toString('base64');
}

/** LOGIN answers: the user name to the first challenge, the password to the second. */
export function loginResponse(challengeBase64: string, user: string, password: string): string {
  const challenge = Buffer.from(challengeBase64, 'base64').toString('utf8').toLowerCase();
  const answer = challenge.startsWith('pass') ? password : user;
  return Buffer.from(answer, 'utf8').toString('base64');
}

/**
 * Pick a mechanism the server offers, honouring smtp_sasl_security_options /
 * smtp_sasl_tls_security_options: `noplaintext` forbids PLAIN and LOGIN.
 * facteur's client knows only plaintext mechanisms, so `noplaintext` means no AUTH.
 */
export function chooseMechanism(offered: string[], securityOptions: string[]): ClientMechanism | undefined {
  const opts = new Set(securityOptions.map((o) => o.toLowerCase()));
  if (opts.has('noplaintext')) return undefined;
  const up = new Set(offered.map((m) => m.toUpperCase()));
  if (up.has('PLAIN')) return 'PLAIN';
  if (up.has('LOGIN')) return 'LOGIN';
  return undefined;
}
