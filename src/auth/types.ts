// Contracts of the shared auth service (issue #5). SMTP, IMAP, POP3 and the Dovecot
// auth socket all authenticate through `AuthService`; delivery finds users through
// `UserDatabase`. Implementations live beside this file.

/** Who is asking, for policy (plaintext allowed?), throttling and logs. */
export interface AuthRequest {
  /** `smtp`, `submission`, `imap`, `pop3`, `auth-socket` … (Dovecot's service=). */
  service: string;
  remoteIp: string;
  remotePort?: number;
  localIp?: string;
  /** TLS is active on the connection. */
  tls: boolean;
  /** TLS, or a connection Dovecot treats as secured (loopback, login_trusted_networks). */
  secured: boolean;
  /** Client host name for log lines (`unknown` when not verified). */
  clientName?: string;
  /** Session id for log lines. */
  sessionId?: string;
}

export type AuthResult =
  | { ok: true; user: string }
  /**
   * `temporary`: a server-side problem (database unreadable …), answer 4xx / [SYS/TEMP].
   * `user`: the login name that was tried, when known (Postfix logs it as sasl_username=).
   */
  | { ok: false; reason: string; temporary?: boolean; user?: string };

/** One step of a server-side SASL exchange. Challenges and data are raw bytes (the protocol layer base64-encodes). */
export type SaslStep =
  | { kind: 'challenge'; data: Buffer }
  | { kind: 'success'; user: string; /** final server data (SCRAM server-final-message) */ data?: Buffer }
  /** `user`: the login name that was tried, when the exchange got that far (Dovecot's FAIL user=). */
  | { kind: 'failure'; reason: string; temporary?: boolean; user?: string };

export interface SaslServerExchange {
  readonly mechanism: string;
  /**
   * Feed the client's next response (the initial response on the first call, or
   * undefined when the client sent none). Failure steps have already waited the
   * failure delay.
   */
  step(response: Buffer | undefined): Promise<SaslStep>;
  /** The client cancelled (`*`): counts as a failure for throttling. */
  cancel(): void;
}

export interface AuthService {
  /** SASL mechanism names (upper case) to offer on a connection. Plaintext mechanisms only when `allowPlaintext`. */
  mechanisms(opts: { allowPlaintext: boolean }): string[];
  /** Start an exchange; undefined for an unknown or disallowed mechanism. */
  start(mechanism: string, req: AuthRequest): SaslServerExchange | undefined;
  /** LOGIN (IMAP) / USER+PASS (POP3) / AUTH PLAIN decoded: verify a password. Failures wait the failure delay. */
  verifyPassword(user: string, password: string, req: AuthRequest): Promise<AuthResult>;
  /** True when this client IP has failed too often recently (drop or slow it). */
  isThrottled(remoteIp: string): boolean;
}

/** One line of a Dovecot passwd-file. */
export interface UserEntry {
  /** The user name as written (alice@example.test, or alice). */
  user: string;
  /** `{SCHEME}hash`, or empty when the account has no password. */
  password: string;
  uid?: number;
  gid?: number;
  gecos: string;
  /** Home directory: the entry's, or mail_home expanded. Always absolute. */
  home: string;
  shell: string;
  /** extra fields (`userdb_mail=…`, `nopassword` …) */
  extra: Record<string, string>;
}

export interface UserDatabase {
  /** Find a user by login name (case-insensitive); `alice` also finds a domainless entry. */
  lookup(name: string): UserEntry | undefined;
  all(): UserEntry[];
  /** Domains that appear in user names (lower case): these are local virtual mailbox domains. */
  domains(): Set<string>;
}
