// The configuration reference (docs/configuration.md) is generated from the parameter
// table, so that the documentation cannot drift from the code (a test compares them).
import { PARAMETERS, SERVICE_DEFAULTS, type ParamGroup } from './params/index.js';
import { EMBEDDED_DEFAULTS } from './embedded.js';

const GROUP_TITLES: Record<ParamGroup, string> = {
  core: 'Core: names, networks, data, listeners',
  tls: 'TLS',
  smtpd: 'SMTP server: protocol and limits',
  policy: 'SMTP restrictions (Postfix access control)',
  auth: 'Authentication (SASL, auth socket, login policy)',
  delivery: 'Local delivery and mailboxes',
  queue: 'Outbound queue and SMTP client',
  imap: 'IMAP',
  pop3: 'POP3',
  compat: 'Postfix parameters accepted for compatibility',
};

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function configurationReference(): string {
  const out: string[] = [];
  out.push('# facteur configuration reference', '');
  out.push('<!-- generated from src/config/params/*.ts by `npm run docs`; do not edit by hand -->', '');
  out.push(
    'facteur reads one file in Postfix `main.cf` syntax (`facteur.conf`; `-c FILE` to choose). `name = value`;',
    'a line that starts with whitespace continues the previous one; `#` at the start of a line, or after',
    'whitespace anywhere on a line, starts a comment. `$name` / `${name}` expand other parameters',
    '(`${name?text}`, `${name:text}` as in Postfix). Lists split on commas and/or whitespace. Times take',
    'a unit (`s`, `m`, `h`, `d`, `w`; a bare number uses the unit shown). `service.name = value` overrides',
    'a parameter for one service (`smtp`, `submission`, `submissions`, `imap`, `imaps`, `pop3`, `pop3s`).',
    'An unknown parameter is a warning; an invalid value is an error and `facteur serve` refuses to start.',
    '',
  );
  for (const group of Object.keys(GROUP_TITLES) as ParamGroup[]) {
    const params = PARAMETERS.filter((p) => p.group === group);
    if (params.length === 0) continue;
    out.push(`## ${GROUP_TITLES[group]}`, '', '| parameter | type | default | description |', '|---|---|---|---|');
    for (const p of params) {
      let type: string = p.type;
      if (p.type === 'time') type = `time (${p.unit ?? 's'})`;
      if (p.type === 'enum') type = p.values!.filter((v) => v).join(' / ');
      const desc = p.differs ? `${p.doc} *Differs from Postfix/Dovecot:* ${p.differs}` : p.doc;
      out.push(`| \`${p.name}\` | ${cell(type)} | ${p.default === '' ? '(empty)' : '`' + cell(p.default) + '`'} | ${cell(desc)} |`);
    }
    out.push('');
  }
  out.push('## Built-in per-service defaults', '', 'Like the `-o` options of Debian\'s master.cf: they win over the global value, and an explicit `service.name = value` wins over them.', '');
  out.push('| service | parameter | value |', '|---|---|---|');
  for (const [service, values] of Object.entries(SERVICE_DEFAULTS)) {
    for (const [name, value] of Object.entries(values)) out.push(`| ${service} | \`${name}\` | ${value === '' ? '(empty)' : '`' + cell(value) + '`'} |`);
  }
  out.push('', '## The embedded default', '', 'Without a configuration file, these values apply on top of the defaults above:', '');
  out.push('| parameter | value |', '|---|---|');
  for (const [name, value] of Object.entries(EMBEDDED_DEFAULTS)) out.push(`| \`${name}\` | \`${value}\` |`);
  out.push('');
  return out.join('\n');
}
