// `facteur config check` and `facteur config show [-n]` (like postconf / postconf -n).
import { Command } from 'commander';
import { PARAMETERS } from '../../config/params/index.js';
import { formatDiagnostic } from '../../config/parse.js';
import { checkConfiguration } from '../../server/check.js';
import { loadConfig } from '../load-config.js';

export function configCommand(): Command {
  const cmd = new Command('config').description('check or show the configuration');
  cmd
    .command('check')
    .description('check the configuration file; exit 0 when it has no error (warnings are printed)')
    .option('-c, --config <file>', 'configuration file')
    .action(async (opts: { config?: string }) => {
      const { config, file } = loadConfig(opts.config);
      const diagnostics = await checkConfiguration(config);
      for (const d of diagnostics) process.stderr.write(formatDiagnostic(d) + '\n');
      if (diagnostics.some((d) => d.severity === 'error')) {
        process.exitCode = 1;
        return;
      }
      const warnings = diagnostics.filter((d) => d.severity === 'warning').length;
      process.stdout.write(`${file ?? '(embedded default)'}: ok${warnings ? `, ${warnings} warning(s)` : ''}\n`);
    });
  cmd
    .command('show')
    .description('print effective parameter values (name = value), like postconf')
    .option('-c, --config <file>', 'configuration file')
    .option('-n', 'only parameters set in the configuration file (like postconf -n)')
    .option('-d', 'show default values (like postconf -d)')
    .argument('[names...]', 'only these parameters')
    .action((names: string[], opts: { config?: string; n?: boolean; d?: boolean }) => {
      const { config } = loadConfig(opts.config);
      if (config.errors.length > 0) {
        for (const d of config.errors) process.stderr.write(formatDiagnostic(d) + '\n');
        process.exitCode = 1;
        return;
      }
      const out: string[] = [];
      if (opts.n) {
        for (const e of config.explicitEntries()) {
          const key = e.service ? `${e.service}.${e.name}` : e.name;
          if (names.length === 0 || names.includes(key) || names.includes(e.name)) out.push(`${key} = ${e.value}`);
        }
      } else {
        const wanted = names.length > 0 ? names : PARAMETERS.map((p) => p.name);
        for (const name of wanted) {
          const [service, pname] = name.includes('.') ? name.split('.', 2) : [undefined, name];
          const spec = config.spec(pname);
          if (!spec) {
            process.stderr.write(`facteur: warning: ${name}: unknown parameter\n`);
            process.exitCode = 1;
            continue;
          }
          out.push(`${name} = ${opts.d ? spec.default : config.get(pname, service)}`);
        }
      }
      process.stdout.write(out.map((l) => l + '\n').join(''));
    });
  return cmd;
}
