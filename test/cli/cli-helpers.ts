// Running the facteur CLI as a user would, in a child process.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runCli as runCliFromSource } from '../helpers/cli.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `facteur ARGS` with `input` on standard input (a pipe, so not a terminal). */
export async function runCli(args: string[], input = ''): Promise<CliResult> {
  const r = await runCliFromSource(args, { input });
  return { ...r, code: r.code ?? -1 };
}

/**
 * Run `facteur ARGS` on a pseudo-terminal (Python's pty module): answer each prompt in
 * `answers` in turn. Resolves with everything the terminal showed and the exit status.
 */
export function runCliOnTty(args: string[], answers: [prompt: string, reply: string][]): Promise<CliResult> {
  const script = `
import os, pty, select, sys, json
args, answers = json.loads(sys.argv[1]), json.loads(sys.argv[2])
pid, fd = pty.fork()
if pid == 0:
    os.execvp(args[0], args)
out = b''
def read_more(timeout):
    global out
    r, _, _ = select.select([fd], [], [], timeout)
    if not r:
        return False
    try:
        d = os.read(fd, 4096)
    except OSError:
        return False
    if not d:
        return False
    out += d
    return True
for prompt, reply in answers:
    p = prompt.encode()
    while p not in out:
        if not read_more(20):
            sys.stdout.write(out.decode('utf8', 'replace')); sys.exit(99)
    out = out.replace(p, b'<' + p + b'>', 1)
    os.write(fd, reply.encode() + b'\\r')
while read_more(20):
    pass
_, st = os.waitpid(pid, 0)
sys.stdout.write(out.decode('utf8', 'replace'))
sys.exit(os.WEXITSTATUS(st))
`;
  const argv = [process.execPath, '--import', 'tsx', 'src/cli/main.ts', ...args];
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', script, JSON.stringify(argv), JSON.stringify(answers)], { cwd: ROOT, env: { ...process.env, FACTEUR_CONFIG: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
