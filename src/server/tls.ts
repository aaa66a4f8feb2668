// TLS for every service: certificates from the configuration (smtpd_tls_cert_file,
// ssl_cert …) or a self-signed one generated on first start under
// $data_directory/tls (DESIGN.md principle 6); reloaded on SIGHUP; and the STARTTLS
// upgrade shared by SMTP, IMAP and POP3.
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { createSecureContext, TLSSocket, type SecureContext, type SecureVersion } from 'node:tls';
import forge from 'node-forge';
import type { Config } from '../config/config.js';
import type { ServiceName } from '../config/params/types.js';
import { logger } from '../log.js';

const log = logger('tls');

export interface CertificateFiles {
  cert: string;
  key: string;
}

/** Create (once) a self-signed certificate for `hostname`; returns the file paths. */
export function ensureSelfSigned(dir: string, hostname: string): CertificateFiles & { created: boolean } {
  const cert = join(dir, 'self-signed.pem');
  const key = join(dir, 'self-signed.key');
  if (existsSync(cert) && existsSync(key)) return { cert, key, created: false };
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = pair.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const c = forge.pki.createCertificate();
  c.publicKey = forge.pki.publicKeyFromPem(pair.publicKey.export({ type: 'spki', format: 'pem' }).toString());
  c.serialNumber = '01' + forge.util.bytesToHex(forge.random.getBytesSync(8));
  const now = new Date();
  c.validity.notBefore = new Date(now.getTime() - 24 * 3600 * 1000);
  c.validity.notAfter = new Date(now.getTime() + 10 * 365 * 24 * 3600 * 1000);
  const attrs = [{ name: 'commonName', value: hostname }, { name: 'organizationName', value: 'facteur self-signed' }];
  c.setSubject(attrs);
  c.setIssuer(attrs);
  c.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: [{ type: 2, value: hostname }, { type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }, { type: 7, ip: '::1' }] },
  ]);
  c.sign(forge.pki.privateKeyFromPem(keyPem), forge.md.sha256.create());
  const certPem = forge.pki.certificateToPem(c);
  writeFileSync(key + '.tmp', keyPem, { mode: 0o600 });
  chmodSync(key + '.tmp', 0o600);
  renameSync(key + '.tmp', key);
  writeFileSync(cert + '.tmp', certPem, { mode: 0o644 });
  renameSync(cert + '.tmp', cert);
  return { cert, key, created: true };
}

function minVersion(config: Config, service: ServiceName): SecureVersion {
  if (service.startsWith('imap') || service.startsWith('pop3')) {
    return config.get('ssl_min_protocol', service) as SecureVersion;
  }
  // smtpd_tls_protocols: ">=TLSv1.2" or Postfix's exclusion form "!SSLv2, !SSLv3, !TLSv1, !TLSv1.1"
  const items = config.list('smtpd_tls_protocols', service);
  const ge = items.find((i) => i.startsWith('>='));
  if (ge) return ge.slice(2) as SecureVersion;
  const excluded = new Set(items.filter((i) => i.startsWith('!')).map((i) => i.slice(1)));
  for (const v of ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] as const) if (!excluded.has(v)) return v;
  return 'TLSv1.2';
}

/** Secure contexts per service, rebuilt from the configuration on reload. */
export class TlsProvider {
  private contexts = new Map<ServiceName, SecureContext>();
  private files = new Map<ServiceName, CertificateFiles>();

  constructor(private config: Config) {}

  /** The certificate files a service uses (generating the self-signed one if needed). */
  filesFor(service: ServiceName): CertificateFiles {
    const cached = this.files.get(service);
    if (cached) return cached;
    const mailService = service.startsWith('imap') || service.startsWith('pop3');
    const cert = this.config.path(mailService ? 'ssl_cert' : 'smtpd_tls_cert_file', service);
    const key = this.config.path(mailService ? 'ssl_key' : 'smtpd_tls_key_file', service);
    let files: CertificateFiles;
    if (cert && key) files = { cert, key };
    else {
      const dir = join(this.config.path('data_directory'), 'tls');
      const made = ensureSelfSigned(dir, this.config.get('myhostname'));
      if (made.created) log.info(`generated a self-signed certificate for ${this.config.get('myhostname')}`, { cert: made.cert });
      files = { cert: made.cert, key: made.key };
    }
    this.files.set(service, files);
    return files;
  }

  context(service: ServiceName): SecureContext {
    let ctx = this.contexts.get(service);
    if (!ctx) {
      const f = this.filesFor(service);
      ctx = createSecureContext({ cert: readFileSync(f.cert), key: readFileSync(f.key), minVersion: minVersion(this.config, service) });
      this.contexts.set(service, ctx);
    }
    return ctx;
  }

  /** Re-read certificates (SIGHUP). On error the old contexts stay in use and the error is thrown. */
  reload(config: Config): void {
    const next = new TlsProvider(config);
    for (const service of this.contexts.keys()) next.context(service);
    this.config = config;
    this.contexts = next.contexts;
    this.files = next.files;
  }

  /** Subject and expiry of a service's certificate, for the start-up banner. */
  describe(service: ServiceName): string {
    const f = this.filesFor(service);
    const x = new X509Certificate(readFileSync(f.cert));
    return `${x.subject.replace(/\n/g, ', ')} (until ${x.validTo})`;
  }
}

/**
 * Upgrade a plain socket to TLS as the server (STARTTLS, RFC 3207 / RFC 2595 / RFC 3501 §6.2.1).
 * The caller must have stopped reading and must discard anything the client pipelined
 * after the STARTTLS command (CVE-2011-0411): this function never replays buffered input.
 */
export function upgradeToTls(socket: Socket, context: SecureContext, timeoutMs = 60_000): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    socket.removeAllListeners('data');
    socket.removeAllListeners('readable');
    const tlsSocket = new TLSSocket(socket, { isServer: true, secureContext: context });
    const timer = setTimeout(() => {
      tlsSocket.destroy();
      reject(new Error('TLS handshake timeout'));
    }, timeoutMs);
    tlsSocket.once('secure', () => {
      clearTimeout(timer);
      resolve(tlsSocket);
    });
    tlsSocket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    tlsSocket.once('close', () => {
      clearTimeout(timer);
      reject(new Error('connection closed during the TLS handshake'));
    });
  });
}

/** `TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)` as Postfix writes it in Received:. */
export function describeTls(socket: TLSSocket): { protocol: string; cipher: string; bits: number } {
  const c = socket.getCipher();
  const bitsMap: Record<string, number> = { AES_256: 256, AES_128: 128, CHACHA20: 256 };
  const bits = Object.entries(bitsMap).find(([k]) => c.name.includes(k))?.[1] ?? 0;
  return { protocol: socket.getProtocol() ?? 'unknown', cipher: c.standardName ?? c.name, bits };
}
