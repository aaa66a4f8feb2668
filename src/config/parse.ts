// main.cf syntax reader (postconf(5) "Syntax"), with one facteur extension:
// `#` after whitespace starts a comment anywhere on a line, so that commented
// restriction lists from tutorials paste verbatim.

export interface ConfigEntry {
  /** Parameter name without the service prefix. */
  name: string;
  /** `submission` in `submission.smtpd_tls_security_level = encrypt`. */
  service?: string;
  /** The raw value: continuation lines joined with a space, comments removed, trimmed. */
  value: string;
  file: string;
  line: number;
}

export interface ConfigDiagnostic {
  severity: 'error' | 'warning';
  file: string;
  line: number;
  /** The parameter concerned, when there is one. */
  param?: string;
  message: string;
}

export function formatDiagnostic(d: ConfigDiagnostic): string {
  return `${d.file}:${d.line}: ${d.severity}: ${d.param ? d.param + ': ' : ''}${d.message}`;
}

/** Remove a comment: `#` at line start (after optional whitespace) or after whitespace. */
function stripComment(line: string): string {
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '#' && (i === 0 || line[i - 1] === ' ' || line[i - 1] === '\t')) return line.slice(0, i);
  }
  return line;
}

export function parseMainCf(text: string, file: string): { entries: ConfigEntry[]; diagnostics: ConfigDiagnostic[] } {
  const entries: ConfigEntry[] = [];
  const diagnostics: ConfigDiagnostic[] = [];
  const lines = text.split(/\r?\n/);
  let current: { name: string; service?: string; parts: string[]; line: number } | undefined;

  const flush = () => {
    if (!current) return;
    entries.push({
      name: current.name,
      service: current.service,
      value: current.parts.join(' ').replace(/\s+/g, ' ').trim(),
      file,
      line: current.line,
    });
    current = undefined;
  };

  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    const lineNo = i + 1;
    // Whitespace-only lines and comment lines are ignored, also inside a continuation.
    if (/^\s*$/.test(raw) || /^\s*#/.test(raw)) continue;
    const body = stripComment(raw);
    if (/^\s/.test(raw)) {
      if (!current) {
        diagnostics.push({ severity: 'error', file, line: lineNo, message: 'continuation line without a parameter before it (a line that starts with whitespace continues the previous line)' });
        continue;
      }
      current.parts.push(body.trim());
      continue;
    }
    flush();
    const m = /^([A-Za-z0-9_.-]+)\s*=\s*(.*)$/.exec(body);
    if (!m) {
      diagnostics.push({ severity: 'error', file, line: lineNo, message: `syntax error: expected "name = value", got "${raw.trim()}"` });
      continue;
    }
    let name = m[1];
    let service: string | undefined;
    const dot = name.indexOf('.');
    if (dot > 0) {
      service = name.slice(0, dot);
      name = name.slice(dot + 1);
    }
    current = { name, service, parts: [m[2].trim()], line: lineNo };
  }
  flush();
  return { entries, diagnostics };
}
