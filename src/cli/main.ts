// The `facteur` command (issue #2). Each command lives in src/cli/commands/ and is
// registered here; output meant for scripts goes to stdout, errors to stderr with a
// non-zero exit status.
import { Command, CommanderError } from 'commander';
import { configCommand } from './commands/config.js';
import { pwCommand } from './commands/pw.js';
import { userCommand } from './commands/user.js';
import { queueCommand } from './commands/queue.js';
import { serveCommand } from './commands/serve.js';
import { migrateCommand } from './commands/migrate.js';

export function buildProgram(): Command {
  const program = new Command('facteur')
    .description('A self-hosted mail server: SMTP, submission, Postfix restrictions, outbound queue, IMAP and POP3 over Maildir.')
    .showHelpAfterError()
    .exitOverride();
  program.addCommand(serveCommand());
  program.addCommand(configCommand());
  program.addCommand(userCommand());
  program.addCommand(pwCommand());
  program.addCommand(queueCommand());
  program.addCommand(migrateCommand());
  return program;
}

/** Run the CLI with `argv` (without node and script); resolves to the exit status. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version' ? 0 : err.exitCode || 1;
    }
    process.stderr.write(`facteur: ${(err as Error).message}\n`);
    return 1;
  }
}

// Run when executed directly (`node --import tsx src/cli/main.ts …`); bin/facteur.js imports main().
if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
