// Reading table files: Postfix's logical lines (a line that starts with whitespace
// continues the previous one; `#` lines and empty lines are skipped), and reloading a
// file when it changes on disk (mtime/size/inode check before each use).
import { promises as fsp } from 'node:fs';
import { TableError, type TableDiagnostic } from './types.js';

export interface LogicalLine {
  /** Line number of the first physical line. */
  line: number;
  text: string;
}

/** Split file text into logical lines (readlline(3) semantics). */
export function logicalLines(text: string): LogicalLine[] {
  const out: LogicalLine[] = [];
  const lines = text.split(/\r?\n/);
  let cur: LogicalLine | undefined;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    if (/^\s*#/.test(raw) || /^\s*$/.test(raw)) continue;
    if (/^\s/.test(raw)) {
      if (cur) {
        cur.text += raw;
        continue;
      }
      // a continuation without a start: treat as its own line, like Postfix
      cur = { line: i + 1, text: raw.trimStart() };
      out.push(cur);
      continue;
    }
    cur = { line: i + 1, text: raw };
    out.push(cur);
  }
  for (const l of out) l.text = l.text.replace(/\s+$/, '');
  return out;
}

/** A parsed file that is re-read when it changes. */
export class ReloadingFile<T> {
  private loaded?: { key: string; value: T; diagnostics: TableDiagnostic[] };
  private pending?: Promise<{ value: T; diagnostics: TableDiagnostic[] }>;

  constructor(
    readonly path: string,
    private readonly parse: (text: string, path: string) => { value: T; diagnostics: TableDiagnostic[] },
  ) {}

  /** The current parsed content; re-reads the file when its mtime, size or inode changed. */
  async get(): Promise<{ value: T; diagnostics: TableDiagnostic[] }> {
    if (this.pending) return this.pending;
    this.pending = this.refresh().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async refresh(): Promise<{ value: T; diagnostics: TableDiagnostic[] }> {
    let key: string;
    try {
      const st = await fsp.stat(this.path);
      key = `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch (err) {
      throw new TableError(`cannot open ${this.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (this.loaded && this.loaded.key === key) return this.loaded;
    let text: string;
    try {
      text = await fsp.readFile(this.path, 'utf8');
    } catch (err) {
      throw new TableError(`cannot read ${this.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const parsed = this.parse(text, this.path);
    this.loaded = { key, ...parsed };
    return this.loaded;
  }
}
