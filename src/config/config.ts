// The effective configuration: main.cf entries + per-service overrides + built-in
// service defaults + the parameter table, with Postfix's lazy `$name` expansion.
//
// Precedence for `get(name, service)`, highest first:
//   1. overrides given on the command line (e.g. --data)
//   2. `service.name = …` in the file            (like master.cf -o)
//   3. built-in service defaults (SERVICE_DEFAULTS, Debian's master.cf submission -o's)
//   4. `name = …` in the file
//   5. the embedded default layer (only when running without a file)
//   6. computed defaults (myhostname from the host name …) and the table default
import { accessSync, constants as fsConstants, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import { EMBEDDED_DEFAULTS } from './embedded.js';
import { expandMacros } from './expand.js';
import { PARAMETER_INDEX, SERVICE_DEFAULTS, isService, type ParamSpec, type ServiceName } from './params/index.js';
import { formatDiagnostic, parseMainCf, type ConfigDiagnostic, type ConfigEntry } from './parse.js';
import {
  parseBool,
  parseCidr,
  parseInt10,
  parseListen,
  parseMode,
  parseSize,
  parseTableRef,
  parseTime,
  splitList,
  ValueError,
  TABLE_TYPES,
  type Cidr,
  type ListenAddress,
  type TableRef,
} from './values.js';
import { directiveInfo } from '../smtp/policy/names.js';

export type { ConfigDiagnostic, ConfigEntry, ServiceName };

export class ConfigError extends Error {
  constructor(readonly diagnostics: ConfigDiagnostic[]) {
    super(diagnostics.map(formatDiagnostic).join('\n'));
  }
}

/** One element of a restriction list: `reject_rbl_client bl.example`, `sleep 1`, `check_client_access texthash:/x`. */
export interface Restriction {
  name: string;
  /** The argument as written (seconds, DNS list domain with optional =filter, table). */
  arg?: string;
  /** For table arguments, or a bare `type:table` element. */
  table?: TableRef;
  text: string;
}

/** An element of a `networks` list. */
export type NetworkItem = { kind: 'cidr'; cidr: Cidr } | { kind: 'table'; table: TableRef } | { kind: 'file'; path: string };
/** An element of a `domains` list. */
/** A parameter name inside `${…}` (service-qualified names hold `.` and `-`). */
const PARAMETER_NAME = /^[A-Za-z0-9_.-]+$/;

export type DomainItem = { kind: 'domain'; domain: string } | { kind: 'table'; table: TableRef } | { kind: 'file'; path: string };

const FILE_TABLE_TYPES = new Set(['texthash', 'hash', 'btree', 'lmdb', 'cdb', 'cidr', 'regexp', 'pcre', 'passwd-file']);

export interface ConfigOptions {
  /** Values that beat everything (command line). */
  overrides?: Record<string, string>;
  /** Running without a configuration file: the embedded default layer applies. */
  embedded?: boolean;
  /** Directory relative paths resolve against (default: the file's directory, or cwd). */
  baseDir?: string;
}

function lookupKey(name: string, service?: string): string {
  return service ? `${service}.${name}` : name;
}

export class Config {
  readonly diagnostics: ConfigDiagnostic[] = [];
  private readonly fileEntries = new Map<string, ConfigEntry>();
  private readonly cache = new Map<string, unknown>();
  readonly baseDir: string;

  private constructor(
    /** The configuration file, or undefined for the embedded default. */
    readonly file: string | undefined,
    entries: ConfigEntry[],
    parseDiagnostics: ConfigDiagnostic[],
    readonly options: ConfigOptions,
  ) {
    this.baseDir = options.baseDir ?? (file ? dirname(resolve(file)) : process.cwd());
    this.diagnostics.push(...parseDiagnostics);
    for (const e of entries) {
      const key = lookupKey(e.name, e.service);
      const prev = this.fileEntries.get(key);
      if (prev) {
        this.diagnostics.push({ severity: 'warning', file: e.file, line: e.line, param: key, message: `overriding earlier entry at line ${prev.line}` });
      }
      this.fileEntries.set(key, e);
    }
    this.validate();
  }

  /** Parse main.cf text. Does not throw on errors: check `errors`. */
  static fromText(text: string, file = 'facteur.conf', options: ConfigOptions = {}): Config {
    const { entries, diagnostics } = parseMainCf(text, file);
    return new Config(file, entries, diagnostics, options);
  }

  /** Read a configuration file; an unreadable file is an error diagnostic. */
  static fromFile(path: string, options: ConfigOptions = {}): Config {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      const c = new Config(path, [], [], options);
      c.diagnostics.unshift({ severity: 'error', file: path, line: 0, message: `cannot read configuration file: ${(err as Error).message}` });
      return c;
    }
    return Config.fromText(text, path, options);
  }

  /** The embedded default (no file), with optional overrides. */
  static embedded(options: ConfigOptions = {}): Config {
    return new Config(undefined, [], [], { ...options, embedded: true });
  }

  /** Convenience for tests: `{ 'mynetworks': '10.0.0.0/8', 'submission.smtpd_tls_security_level': 'may' }`. */
  static fromObject(values: Record<string, string>, options: ConfigOptions = {}): Config {
    const text = Object.entries(values)
      .map(([k, v]) => `${k} = ${v.replace(/\n/g, '\n ')}`)
      .join('\n');
    return Config.fromText(text, options.baseDir ? resolve(options.baseDir, 'facteur.conf') : '(inline)', options);
  }

  get errors(): ConfigDiagnostic[] {
    return this.diagnostics.filter((d) => d.severity === 'error');
  }
  get warnings(): ConfigDiagnostic[] {
    return this.diagnostics.filter((d) => d.severity === 'warning');
  }
  /** Throw a ConfigError when there is any error diagnostic. */
  assertValid(): this {
    if (this.errors.length > 0) throw new ConfigError(this.errors);
    return this;
  }

  /** The view a service's code reads from (`service.name` overrides apply). */
  view(service?: ServiceName): ConfigView {
    return new ConfigView(this, service);
  }

  /** Where a value came from: the file entry, if the file sets it (for messages). */
  entry(name: string, service?: string): ConfigEntry | undefined {
    return (service ? this.fileEntries.get(lookupKey(name, service)) : undefined) ?? this.fileEntries.get(name);
  }

  /** Entries set in the file (for `config show -n`). */
  explicitEntries(): ConfigEntry[] {
    return [...this.fileEntries.values()];
  }

  spec(name: string): ParamSpec | undefined {
    return PARAMETER_INDEX.get(name);
  }

  /** The unexpanded value and its layer. */
  rawValue(name: string, service?: string): { value: string; source: 'override' | 'service' | 'service-default' | 'file' | 'embedded' | 'default' } | undefined {
    const o = this.options.overrides;
    if (o && Object.prototype.hasOwnProperty.call(o, name)) return { value: o[name], source: 'override' };
    if (service) {
      const e = this.fileEntries.get(lookupKey(name, service));
      if (e) return { value: e.value, source: 'service' };
      const sd = SERVICE_DEFAULTS[service];
      if (sd && Object.prototype.hasOwnProperty.call(sd, name)) return { value: sd[name], source: 'service-default' };
    }
    const e = this.fileEntries.get(name);
    if (e) return { value: e.value, source: 'file' };
    if (this.options.embedded && Object.prototype.hasOwnProperty.call(EMBEDDED_DEFAULTS, name)) {
      return { value: EMBEDDED_DEFAULTS[name], source: 'embedded' };
    }
    const spec = PARAMETER_INDEX.get(name);
    if (!spec) return undefined;
    if (name === 'config_directory') return { value: this.file ? dirname(resolve(this.file)) : this.baseDir, source: 'default' };
    if (name === 'mydomain') {
      // Postfix: $myhostname minus its first component, or localdomain.
      const host = this.get('myhostname', service);
      const dot = host.indexOf('.');
      return { value: dot > 0 && host.slice(dot + 1).includes('.') ? host.slice(dot + 1) : dot > 0 ? host.slice(dot + 1) : 'localdomain', source: 'default' };
    }
    return { value: computedDefault(name) ?? spec.default, source: 'default' };
  }

  /** The fully expanded string value of a parameter. Unknown names give ''. */
  get(name: string, service?: string): string {
    const key = `s:${lookupKey(name, service)}`;
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit as string;
    const v = this.expandParam(name, service, []).value;
    this.cache.set(key, v);
    return v;
  }

  /** Expand `$name`, `${name}`, `$(name)`, `${name?text}`, `${name:text}`, `$$`. */
  expand(text: string, service?: string): string {
    return this.expandText(text, service, []).value;
  }

  private expandParam(name: string, service: string | undefined, stack: string[]): { value: string; problems: string[] } {
    if (stack.includes(name)) {
      return { value: '', problems: [`parameter expansion loop: ${[...stack, name].map((n) => '$' + n).join(' -> ')}`] };
    }
    const raw = this.rawValue(name, service);
    if (!raw) {
      if (this.isRestrictionClass(name)) return { value: '', problems: [] };
      return { value: '', problems: [`undefined parameter $${name}`] };
    }
    const spec = PARAMETER_INDEX.get(name);
    if (spec?.raw) return { value: raw.value, problems: [] };
    const expanded = this.expandText(raw.value, service, [...stack, name]);
    // A relative directory (the embedded default's ./facteur-data) is made absolute here, so
    // that values built from it ($data_directory/mail/%d/%n) do not depend on who reads them.
    if (spec?.type === 'path' && expanded.value && !isAbsolute(expanded.value)) expanded.value = resolve(this.baseDir, expanded.value);
    return expanded;
  }

  private expandText(text: string, service: string | undefined, stack: string[]): { value: string; problems: string[] } {
    const problems: string[] = [];
    const lookup = (name: string): string => {
      const sub = this.expandParam(name, service, stack);
      problems.push(...sub.problems);
      return sub.value;
    };
    const value = expandMacros(text, lookup, { bracedName: PARAMETER_NAME, onProblem: (p) => problems.push(p) });
    return { value, problems };
  }

  private isRestrictionClass(name: string): boolean {
    const classes = this.fileEntries.get('smtpd_restriction_classes')?.value;
    return !!classes && splitList(classes).includes(name);
  }

  // ---- typed access -------------------------------------------------------------

  private typed<T>(name: string, service: string | undefined, kind: string, parse: (v: string, spec: ParamSpec | undefined) => T): T {
    const key = `${kind}:${lookupKey(name, service)}`;
    if (this.cache.has(key)) return this.cache.get(key) as T;
    const v = parse(this.get(name, service), PARAMETER_INDEX.get(name));
    this.cache.set(key, v);
    return v;
  }

  bool(name: string, service?: string): boolean {
    return this.typed(name, service, 'bool', (v) => parseBool(v));
  }
  int(name: string, service?: string): number {
    return this.typed(name, service, 'int', (v, s) => parseInt10(v, s?.min, s?.max));
  }
  /** Seconds. */
  time(name: string, service?: string): number {
    return this.typed(name, service, 'time', (v, s) => parseTime(v, s?.unit));
  }
  /** Bytes. */
  size(name: string, service?: string): number {
    return this.typed(name, service, 'size', (v) => parseSize(v));
  }
  mode(name: string, service?: string): number {
    return this.typed(name, service, 'mode', (v) => parseMode(v));
  }
  list(name: string, service?: string): string[] {
    return this.typed(name, service, 'list', (v) => splitList(v));
  }
  /** A path, made absolute against the configuration file's directory. Empty stays empty. A leading `<` is dropped. */
  path(name: string, service?: string): string {
    return this.typed(name, service, 'path', (v) => this.resolvePath(v));
  }
  resolvePath(v: string): string {
    const s = v.trim().replace(/^</, '');
    if (!s) return '';
    return isAbsolute(s) ? s : resolve(this.baseDir, s);
  }
  listen(name: string, service?: string): ListenAddress[] {
    return this.typed(name, service, 'listen', (v) => splitList(v).map(parseListen));
  }
  tables(name: string, service?: string): TableRef[] {
    return this.typed(name, service, 'tables', (v) => splitList(v).map((t) => this.resolveTableRef(parseTableRef(t))));
  }
  networks(name: string, service?: string): NetworkItem[] {
    return this.typed(name, service, 'networks', (v) => splitList(v).map((t) => this.parseNetworkItem(t)));
  }
  domains(name: string, service?: string): DomainItem[] {
    return this.typed(name, service, 'domains', (v) => splitList(v).map((t) => this.parseDomainItem(t)));
  }
  restrictions(name: string, service?: string): Restriction[] {
    return this.typed(name, service, 'restrictions', (v) => this.parseRestrictions(v));
  }

  /** Make a file-backed table's path absolute. */
  resolveTableRef(t: TableRef): TableRef {
    if (FILE_TABLE_TYPES.has(t.type) && t.name && !isAbsolute(t.name)) {
      const name = this.resolvePath(t.name);
      return { ...t, name };
    }
    return t;
  }

  private looksLikeTable(s: string): boolean {
    const m = /^([a-z][a-z0-9-]*):/.exec(s);
    return !!m && (TABLE_TYPES as readonly string[]).includes(m[1]);
  }

  private parseNetworkItem(t: string): NetworkItem {
    if (t.startsWith('/')) return { kind: 'file', path: t };
    if (this.looksLikeTable(t)) return { kind: 'table', table: this.resolveTableRef(parseTableRef(t)) };
    if (t.startsWith('!')) throw new ValueError(`negation "${t}" is not supported in a network list`);
    return { kind: 'cidr', cidr: parseCidr(t) };
  }

  private parseDomainItem(t: string): DomainItem {
    if (t.startsWith('/')) return { kind: 'file', path: t };
    if (this.looksLikeTable(t)) return { kind: 'table', table: this.resolveTableRef(parseTableRef(t)) };
    const d = t.toLowerCase().replace(/\.$/, '');
    if (!/^(\.?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/.test(d) && !/^\[[0-9a-f.:]+\]$/.test(d)) {
      throw new ValueError(`bad domain name "${t}"`);
    }
    return { kind: 'domain', domain: d };
  }

  /** Parse a restriction list; unknown names are errors. */
  parseRestrictions(v: string): Restriction[] {
    const tokens = splitList(v);
    const out: Restriction[] = [];
    for (let i = 0; i < tokens.length; i++) {
      const tok = tokens[i];
      const lower = tok.toLowerCase();
      if (this.looksLikeTable(tok)) {
        out.push({ name: 'check_access', table: this.resolveTableRef(parseTableRef(tok)), text: tok });
        continue;
      }
      if (this.isRestrictionClass(tok)) {
        out.push({ name: tok, text: tok });
        continue;
      }
      const info = directiveInfo(lower);
      if (!info) throw new ValueError(`unknown restriction "${tok}"`);
      if (info.unsupported) throw new ValueError(`restriction "${tok}" is not supported by facteur: ${info.unsupported}`);
      const name = info.aliasOf ?? lower;
      if (info.arg === 'none') {
        out.push({ name, text: tok });
        continue;
      }
      const arg = tokens[i + 1];
      if (arg === undefined) throw new ValueError(`restriction "${tok}" needs an argument`);
      i++;
      if (info.arg === 'seconds') {
        if (!/^\d+$/.test(arg)) throw new ValueError(`bad "${tok}" argument "${arg}" (a number of seconds)`);
        out.push({ name, arg, text: `${tok} ${arg}` });
      } else if (info.arg === 'dnsdomain') {
        const m = /^([A-Za-z0-9_.-]+)(=.*)?$/.exec(arg);
        if (!m || !m[1].includes('.')) throw new ValueError(`bad "${tok}" DNS list domain "${arg}"`);
        out.push({ name, arg, text: `${tok} ${arg}` });
      } else {
        out.push({ name, arg, table: this.resolveTableRef(parseTableRef(arg)), text: `${tok} ${arg}` });
      }
    }
    return out;
  }

  // ---- validation ---------------------------------------------------------------

  private validate(): void {
    const classes = new Set(this.fileEntries.get('smtpd_restriction_classes') ? splitList(this.fileEntries.get('smtpd_restriction_classes')!.value) : []);
    for (const e of this.fileEntries.values()) {
      const key = lookupKey(e.name, e.service);
      if (e.service && !isService(e.service)) {
        this.diagnostics.push({ severity: 'warning', file: e.file, line: e.line, param: key, message: `unknown service "${e.service}" (services: smtp, submission, submissions, imap, imaps, pop3, pop3s)` });
        continue;
      }
      const spec = PARAMETER_INDEX.get(e.name);
      if (!spec) {
        if (classes.has(e.name)) {
          this.checkValue(e, { name: e.name, type: 'restrictions', default: '', doc: '', group: 'policy' });
          continue;
        }
        this.diagnostics.push({ severity: 'warning', file: e.file, line: e.line, param: key, message: 'unused parameter (unknown to facteur)' });
        continue;
      }
      this.checkValue(e, spec);
      if (e.name === 'inet_interfaces' && !/^\s*all\s*$/i.test(e.value)) {
        this.diagnostics.push({ severity: 'warning', file: e.file, line: e.line, param: key, message: 'facteur does not use inet_interfaces: set smtp_listen, submission_listen, … (e.g. smtp_listen = 127.0.0.1:25)' });
      }
    }
    // Values that reference others are checked where they are used; check here that
    // every service's listen addresses and restriction lists are valid, wherever they come from.
  }

  private checkValue(e: ConfigEntry, spec: ParamSpec): void {
    const key = lookupKey(e.name, e.service);
    const expanded = this.expandParam(e.name, e.service, []);
    for (const p of expanded.problems) {
      const severity = p.startsWith('parameter expansion loop') || p.startsWith('missing') || p.startsWith('bad parameter expansion') ? 'error' : 'warning';
      this.diagnostics.push({ severity, file: e.file, line: e.line, param: key, message: p });
    }
    try {
      this.checkTyped(spec, expanded.value);
    } catch (err) {
      if (err instanceof ValueError) {
        this.diagnostics.push({ severity: 'error', file: e.file, line: e.line, param: key, message: err.message });
      } else throw err;
    }
  }

  private checkReadable(path: string, what: string): void {
    const p = this.resolvePath(path);
    try {
      accessSync(p, fsConstants.R_OK);
    } catch (err) {
      throw new ValueError(`cannot read ${what} "${p}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }

  private checkTable(t: TableRef): void {
    if (FILE_TABLE_TYPES.has(t.type)) this.checkReadable(t.name, `${t.type} table`);
  }

  private checkTyped(spec: ParamSpec, v: string): void {
    switch (spec.type) {
      case 'string':
      case 'path':
        return;
      case 'bool':
        parseBool(v);
        return;
      case 'int':
        parseInt10(v, spec.min, spec.max);
        return;
      case 'time':
        parseTime(v, spec.unit);
        return;
      case 'size':
        parseSize(v);
        return;
      case 'mode':
        parseMode(v);
        return;
      case 'enum': {
        const norm = v.trim();
        if (!spec.values!.includes(norm)) throw new ValueError(`bad value "${v}" (expected one of: ${spec.values!.filter((x) => x).join(', ')})`);
        return;
      }
      case 'list': {
        const items = splitList(v);
        if (spec.values) {
          const bad = items.find((i) => !spec.values!.includes(i.toLowerCase()));
          if (bad !== undefined) throw new ValueError(`bad value "${bad}" (expected any of: ${spec.values.join(', ')})`);
        }
        return;
      }
      case 'listen':
        splitList(v).forEach(parseListen);
        return;
      case 'file':
        if (v.trim()) this.checkReadable(v, 'file');
        return;
      case 'tables':
        for (const t of splitList(v)) this.checkTable(this.resolveTableRef(parseTableRef(t)));
        return;
      case 'networks':
        for (const t of splitList(v)) {
          const item = this.parseNetworkItem(t);
          if (item.kind === 'table') this.checkTable(item.table);
          if (item.kind === 'file') this.checkReadable(item.path, 'file');
        }
        return;
      case 'domains':
        for (const t of splitList(v)) {
          const item = this.parseDomainItem(t);
          if (item.kind === 'table') this.checkTable(item.table);
          if (item.kind === 'file') this.checkReadable(item.path, 'file');
        }
        return;
      case 'restrictions':
        for (const r of this.parseRestrictions(v)) if (r.table) this.checkTable(r.table);
        return;
    }
  }
}

/** Defaults that depend on the machine (Postfix computes myhostname/mydomain the same way). */
function computedDefault(name: string): string | undefined {
  if (name === 'myhostname') {
    const h = hostname().toLowerCase();
    return h.includes('.') ? h : `${h}.localdomain`;
  }
  return undefined;
}

/** A configuration seen from one service: `service.name` overrides apply. */
export class ConfigView {
  constructor(
    readonly config: Config,
    readonly service?: ServiceName,
  ) {}
  get(name: string): string {
    return this.config.get(name, this.service);
  }
  expand(text: string): string {
    return this.config.expand(text, this.service);
  }
  bool(name: string): boolean {
    return this.config.bool(name, this.service);
  }
  int(name: string): number {
    return this.config.int(name, this.service);
  }
  time(name: string): number {
    return this.config.time(name, this.service);
  }
  size(name: string): number {
    return this.config.size(name, this.service);
  }
  mode(name: string): number {
    return this.config.mode(name, this.service);
  }
  list(name: string): string[] {
    return this.config.list(name, this.service);
  }
  path(name: string): string {
    return this.config.path(name, this.service);
  }
  listen(name: string): ListenAddress[] {
    return this.config.listen(name, this.service);
  }
  tables(name: string): TableRef[] {
    return this.config.tables(name, this.service);
  }
  networks(name: string): NetworkItem[] {
    return this.config.networks(name, this.service);
  }
  domains(name: string): DomainItem[] {
    return this.config.domains(name, this.service);
  }
  restrictions(name: string): Restriction[] {
    return this.config.restrictions(name, this.service);
  }
}
