// A whole facteur: the runtime (users, auth, policy, delivery, queue, store) and the
// listeners in front of it, started and stopped in order. `facteur serve` and the
// end-to-end tests both start the server through here.
import { mkdirSync } from 'node:fs';
import type { Config } from '../config/config.js';
import { Runtime, type RuntimeOptions } from './runtime.js';
import { FacteurServer, type Listening } from './server.js';

export interface Facteur {
  readonly server: FacteurServer;
  readonly runtime: Runtime;
  readonly listening: Listening[];
  /** The bound port of a service (the first address). */
  port(service: Listening['service']): number;
  reload(config: Config): Promise<void>;
  stop(graceMs?: number): Promise<void>;
}

export async function startFacteur(config: Config, opts: RuntimeOptions = {}): Promise<Facteur> {
  config.assertValid();
  mkdirSync(config.path('data_directory'), { recursive: true, mode: 0o750 });
  const runtime = new Runtime(config, opts);
  await runtime.start();
  const server = new FacteurServer(config, (c, tls) => runtime.handlers(c, tls));
  let listening: Listening[];
  try {
    listening = await server.start();
  } catch (err) {
    await server.stop(0);
    await runtime.stop();
    throw err;
  }
  let stopped: Promise<void> | undefined;
  return {
    server,
    runtime,
    get listening() {
      return server.listening.length > 0 ? server.listening : listening;
    },
    port(service) {
      const l = server.listening.find((x) => x.service === service);
      if (!l) throw new Error(`service ${service} is not listening`);
      return l.port;
    },
    async reload(next: Config) {
      next.assertValid();
      await server.reload(next);
    },
    stop(graceMs?: number) {
      stopped ??= (async () => {
        await server.stop(graceMs);
        await runtime.stop();
      })();
      return stopped;
    },
  };
}
