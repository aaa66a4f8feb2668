// The restriction engine (issue #4): what the SMTP session and the server use.
export type * from './types.js';
export { createPolicy, type PolicyDeps } from './engine.js';
export { resolveClientNames, type ClientNames, type NameStatus } from './client-names.js';
export { validatePolicyConfig, checkPolicyTables, SMTPD_SERVICES } from './validate.js';
export { addressSyntaxError, toInternalAddress, toExternalAddress, splitAddress, validHostname, validHostaddr, validMailhostAddr, literalAddress } from './address.js';
export { parseReply, replyLine } from './reply.js';
