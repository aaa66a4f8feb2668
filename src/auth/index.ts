// Public surface of src/auth for the other rooms.
export type { AuthRequest, AuthResult, AuthService, SaslServerExchange, SaslStep, UserDatabase, UserEntry } from './types.js';
export { BuiltinAuthService, createAuthService, isPlaintextMechanism, SUPPORTED_MECHANISMS, type AuthServiceOptions } from './service.js';
export { REASON_UNAVAILABLE } from './sasl/backend.js';
export { formatSaslFailureLog, logSaslFailure } from './log.js';
export { isSecuredConnection, plaintextAuthAllowed, isLoopbackIp } from './secured.js';
export { openUserDatabase, userDatabaseRef, PasswdFileDatabase, UserDatabaseUnavailableError } from './users/index.js';
export { DovecotAuthServer, startAuthSocket } from './dovecot/server.js';
export { DovecotAuthClient, resolveSaslPath, CONNECTION_LOST } from './dovecot/client.js';
export { AuthServiceResolver, authServiceFor, isOwnAuthSocket } from './factory.js';
export { createSaslClient, chooseSaslMechanism, SaslClientError, type SaslClient, type SaslClientCredentials } from './sasl-client.js';
export { verifyPassword, generatePassword, PasswordSchemeError, closeCryptPool } from './schemes/index.js';
