// A small pool of worker threads for crypt(3) (SHA-crypt ~9 ms, bcrypt cost 10 ~70 ms,
// all synchronous in their libraries), so one login never stalls every other session
// (DESIGN.md, "CPU-heavy work off the event loop"). Workers start on first use and
// never keep the process alive.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { cryptSync, UnsupportedCryptError } from './crypt.js';
import type { CryptJob, CryptReply } from './crypt-worker.js';

interface Pending {
  resolve: (hash: string) => void;
  reject: (err: Error) => void;
}

function spawnWorker(): Worker {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    // Running from source under tsx (tests, `node --import tsx`): a worker does not
    // inherit tsx's loader, so register it before importing the TypeScript body.
    const url = new URL('./crypt-worker.ts', here).href;
    const code = `import('tsx/esm/api').then((api) => { api.register(); return import(${JSON.stringify(url)}); });`;
    return new Worker(code, { eval: true });
  }
  return new Worker(new URL('./crypt-worker.js', here));
}

class Slot {
  worker: Worker | undefined;
  readonly pending = new Map<number, Pending>();

  get load(): number {
    return this.pending.size;
  }

  ensure(): Worker {
    if (this.worker) return this.worker;
    const w = spawnWorker();
    w.unref();
    w.on('message', (r: CryptReply) => {
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (this.pending.size === 0) w.unref();
      if (r.hash !== undefined) p.resolve(r.hash);
      else p.reject(r.unsupported ? new UnsupportedCryptError(r.error) : new Error(r.error));
    });
    const fail = (err: Error) => {
      if (this.worker !== w) return;
      this.worker = undefined;
      const pending = [...this.pending.values()];
      this.pending.clear();
      for (const p of pending) p.reject(new Error(`crypt worker failed: ${err.message}`));
      void w.terminate();
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`exited with status ${code}`)));
    this.worker = w;
    return w;
  }
}

export class CryptPool {
  private readonly slots: Slot[];
  private nextId = 1;

  constructor(size = Math.max(2, Math.min(4, availableParallelism()))) {
    this.slots = Array.from({ length: size }, () => new Slot());
  }

  /** crypt(password, setting) in a worker thread. */
  crypt(password: Buffer, setting: string): Promise<string> {
    const slot = this.slots.reduce((a, b) => (b.load < a.load ? b : a));
    const w = slot.ensure();
    const id = this.nextId++;
    return new Promise<string>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      w.ref();
      const job: CryptJob = { id, password: Uint8Array.from(password), setting };
      w.postMessage(job);
    });
  }

  async close(): Promise<void> {
    await Promise.all(
      this.slots.map(async (s) => {
        const w = s.worker;
        s.worker = undefined;
        if (w) await w.terminate();
      }),
    );
  }
}

let shared: CryptPool | undefined;
let useWorkers = true;

/** Tests and one-shot CLI commands may compute in-process instead. */
export function setCryptWorkers(enabled: boolean): void {
  useWorkers = enabled;
}

/** crypt(3) off the event loop (in-process when workers are disabled). */
export async function cryptAsync(password: Buffer, setting: string): Promise<string> {
  if (!useWorkers) return cryptSync(password, setting);
  shared ??= new CryptPool();
  return shared.crypt(password, setting);
}

/** Stop the shared pool's workers (graceful shutdown). */
export async function closeCryptPool(): Promise<void> {
  const p = shared;
  shared = undefined;
  await p?.close();
}
