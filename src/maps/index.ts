// Lookup tables shared by policy (access maps), delivery (alias_maps, virtual_alias_maps)
// and the queue (smtp_sasl_password_maps). See types.ts for the interface.
export * from './types.js';
export { openTable, openTables, TableCache, TableList, type OpenTableOptions } from './open.js';
export { findFirst, isDunno, mailAddrFind, splitExtension, stripExtension, type MailAddrFindOptions, type AddressExtension } from './find.js';
export { AliasTable, parseAliasTargets, parseAliases, readIncludeFile, splitAliasValue, type AliasTarget } from './aliases.js';
export { DomainList, NetworkList } from './lists.js';
export { logicalLines } from './source.js';
export { RegexTranslateError, translatePcre, translatePosix } from './regex.js';
