// Worker thread body for crypt-pool.ts: computes crypt(3) off the event loop.
import { parentPort } from 'node:worker_threads';
import { cryptSync, UnsupportedCryptError } from './crypt.js';

export interface CryptJob {
  id: number;
  password: Uint8Array;
  setting: string;
}
export interface CryptReply {
  id: number;
  hash?: string;
  error?: string;
  unsupported?: boolean;
}

parentPort?.on('message', (job: CryptJob) => {
  let reply: CryptReply;
  try {
    reply = { id: job.id, hash: cryptSync(Buffer.from(job.password), job.setting) };
  } catch (err) {
    reply = { id: job.id, error: (err as Error).message, unsupported: err instanceof UnsupportedCryptError };
  }
  parentPort!.postMessage(reply);
});
