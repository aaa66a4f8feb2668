// `facteur serve [-c FILE] [--data DIR]`: start every configured service; SIGTERM/SIGINT
// stop gracefully, SIGHUP reloads the configuration (and certificates) without
// dropping connections.
import { Command } from 'commander';
import { formatDiagnostic } from '../../config/parse.js';
import { logger } from '../../log.js';
import { checkConfiguration } from '../../server/check.js';
import { startFacteur, type Facteur } from '../../server/facteur.js';
import type { Listening } from '../../server/server.js';
import { loadConfigWithData } from '../load-config.js';

const log = logger('master');

function describeListening(l: Listening): string {
  const host = l.address.includes(':') ? `[${l.address}]` : l.address;
  return `${l.service.padEnd(12)} ${host}:${l.port}`;
}

export function serveCommand(): Command {
  return new Command('serve')
    .description('run the mail server (every service configured; the embedded default without a configuration file)')
    .option('-c, --config <file>', 'configuration file (default: ./facteur.conf, /etc/facteur/facteur.conf, else the embedded default)')
    .option('--data <dir>', 'data directory (overrides data_directory)')
    .action(async (opts: { config?: string; data?: string }) => {
      const loaded = loadConfigWithData(opts);
      const { config } = loaded;
      const diagnostics = await checkConfiguration(config);
      for (const d of diagnostics) process.stderr.write(formatDiagnostic(d) + '\n');
      if (diagnostics.some((d) => d.severity === 'error')) {
        process.stderr.write('facteur: fatal: the configuration has errors; not starting\n');
        process.exitCode = 1;
        return;
      }
      const dataDir = config.path('data_directory');
      let facteur: Facteur;
      try {
        facteur = await startFacteur(config);
      } catch (err) {
        process.stderr.write(`facteur: fatal: ${(err as Error).message}\n`);
        process.exitCode = 1;
        return;
      }
      const listening = facteur.listening;
      const where = loaded.file ? `configuration ${loaded.file}` : 'embedded default (no configuration file)';
      const lines = [`facteur is running: ${where}, data in ${dataDir}`, ...listening.map((l) => '  ' + describeListening(l))];
      if (listening.length === 0) lines.push('  (no service is listening: all *_listen parameters are empty)');
      const smtp = listening.find((l) => l.service === 'smtp');
      const imap = listening.find((l) => l.service === 'imap');
      lines.push(
        'Next steps:',
        '  add a user:       npm run facteur -- user add you@example.test   (asks for a password)',
        smtp ? `  send a message:   swaks --server ${smtp.address}:${smtp.port} --to you@example.test` : '',
        imap ? `  read it:          any IMAP client on ${imap.address}:${imap.port} (STARTTLS), user you@example.test` : '',
        '  stop:             Ctrl-C',
      );
      process.stdout.write(lines.filter((l) => l !== '').join('\n') + '\n');
      log.info(`daemon started`, { services: listening.map((l) => `${l.service}@${l.address}:${l.port}`).join(',') });

      // keep the process alive even when no listener does (every service turned off)
      const keepAlive = setInterval(() => {}, 1 << 30);
      await new Promise<void>((resolve) => {
        let stopping = false;
        const stop = (signal: string) => {
          if (stopping) return;
          stopping = true;
          log.info(`${signal}: stopping (sessions have ${config.get('shutdown_timeout')} to finish)`);
          facteur.stop().then(() => {
            log.info('stopped');
            clearInterval(keepAlive);
            resolve();
          });
        };
        process.on('SIGTERM', () => stop('SIGTERM'));
        process.on('SIGINT', () => stop('SIGINT'));
        process.on('SIGHUP', () => {
          const next = loadConfigWithData(opts).config;
          checkConfiguration(next)
            .then((found) => {
              const errors = found.filter((d) => d.severity === 'error');
              if (errors.length > 0) {
                for (const d of errors) log.error(`reload refused: ${formatDiagnostic(d)}`);
                return false;
              }
              return facteur.reload(next).then(() => true);
            })
            .then((done) => {
              if (done) log.info('configuration reloaded');
            })
            .catch((err: Error) => log.error(`reload failed: ${err.message}`));
        });
      });
    });
}
