// openTable(ref): one LookupTable per `type:name`, shared through a cache so that every
// user of the same file sees the same (reloaded) content.
import { isAbsolute, resolve as resolvePath } from 'node:path';
import { parseTableRef, type TableRef } from '../config/values.js';
import { CidrTable } from './cidr.js';
import { FileHashTable } from './hash.js';
import { RegexpTable } from './regexp.js';
import { FailTable, InlineTable, PasswdFileTable, StaticTable, UnixTable } from './simple.js';
import { TableError, type LookupTable, type TableDiagnostic, type TableFormat } from './types.js';

export interface OpenTableOptions {
  /** How file tables are read: postmap source (default) or aliases(5). */
  format?: TableFormat;
  /** Relative file names resolve against this directory (default: the process's cwd). */
  baseDir?: string;
  /** The cache to use (default: the process-wide one). */
  cache?: TableCache;
  /** Files behind unix:passwd.byname / unix:group.byname (tests). */
  unixFiles?: { passwd?: string; group?: string };
}

export class TableCache {
  private readonly tables = new Map<string, LookupTable>();
  get(key: string): LookupTable | undefined {
    return this.tables.get(key);
  }
  set(key: string, t: LookupTable): void {
    this.tables.set(key, t);
  }
  clear(): void {
    this.tables.clear();
  }
}

const defaultCache = new TableCache();

/** A table whose reference is wrong: every lookup fails, `check` says why. */
class BrokenTable implements LookupTable {
  readonly fixed = true;
  constructor(
    readonly type: string,
    readonly text: string,
    private readonly problem: string,
  ) {}
  async lookup(): Promise<string | undefined> {
    throw new TableError(this.problem, false);
  }
  async check(): Promise<TableDiagnostic[]> {
    return [{ severity: 'error', file: this.text, line: 0, message: this.problem }];
  }
}

const FILE_TYPES = new Set(['texthash', 'hash', 'btree', 'lmdb', 'cdb', 'dbm', 'sdbm']);

/** Open (or find in the cache) the table `ref` (`TableRef` or its text `type:name`). */
export function openTable(ref: TableRef | string, opts: OpenTableOptions = {}): LookupTable {
  let r: TableRef;
  if (typeof ref === 'string') {
    try {
      r = parseTableRef(ref);
    } catch (err) {
      return new BrokenTable('?', ref, (err as Error).message);
    }
  } else r = ref;
  const format = opts.format ?? 'map';
  const cache = opts.cache ?? defaultCache;
  const key = `${format}\0${r.type}\0${r.name}\0${opts.baseDir ?? ''}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const t = create(r, format, opts);
  cache.set(key, t);
  return t;
}

function create(r: TableRef, format: TableFormat, opts: OpenTableOptions): LookupTable {
  const path = () => (isAbsolute(r.name) ? r.name : resolvePath(opts.baseDir ?? process.cwd(), r.name));
  if (FILE_TYPES.has(r.type)) {
    if (!r.name) return new BrokenTable(r.type, r.text, `${r.text}: missing file name`);
    return new FileHashTable(r.type, r.text, path(), format);
  }
  switch (r.type) {
    case 'inline':
      return new InlineTable(r.text, r.name);
    case 'static':
      return new StaticTable(r.text, r.name);
    case 'fail':
      return new FailTable(r.text);
    case 'cidr':
      return new CidrTable(r.text, path());
    case 'regexp':
    case 'pcre':
      return new RegexpTable(r.type, r.text, path());
    case 'unix':
      if (r.name !== 'passwd.byname' && r.name !== 'group.byname') {
        return new BrokenTable(r.type, r.text, `${r.text}: unsupported unix table (supported: unix:passwd.byname, unix:group.byname)`);
      }
      return new UnixTable(r.text, r.name, opts.unixFiles);
    case 'passwd-file':
      return new PasswdFileTable(r.text, path());
    default:
      return new BrokenTable(r.type, r.text, `${r.text}: unsupported lookup table type "${r.type}"`);
  }
}

/**
 * A list of tables searched in order (Postfix's maps_find): the first table that has
 * the key answers; a failing table makes the whole lookup fail (TableError).
 */
export class TableList {
  constructor(readonly tables: LookupTable[]) {}
  get empty(): boolean {
    return this.tables.length === 0;
  }
  /** `fixedOnly`: skip pattern tables (partial keys, Postfix's DICT_FLAG_FIXED). */
  async lookup(key: string, fixedOnly = false): Promise<string | undefined> {
    for (const t of this.tables) {
      if (fixedOnly && !t.fixed) continue;
      const v = await t.lookup(key);
      if (v !== undefined) return v;
    }
    return undefined;
  }
  async check(): Promise<TableDiagnostic[]> {
    const out: TableDiagnostic[] = [];
    for (const t of this.tables) {
      try {
        out.push(...(await t.check()));
      } catch (err) {
        out.push({ severity: 'error', file: t.text, line: 0, message: (err as Error).message });
      }
    }
    return out;
  }
}

export function openTables(refs: (TableRef | string)[], opts: OpenTableOptions = {}): TableList {
  return new TableList(refs.map((r) => openTable(r, opts)));
}
