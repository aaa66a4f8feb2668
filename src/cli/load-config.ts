// Finding and loading the configuration for a CLI command: -c FILE, $FACTEUR_CONFIG,
// ./facteur.conf, /etc/facteur/facteur.conf, else the embedded default.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Config } from '../config/config.js';
import { DEFAULT_CONFIG_PATHS } from '../config/embedded.js';

export interface LoadedConfig {
  config: Config;
  /** The file read, or undefined for the embedded default. */
  file?: string;
}

export function findConfigFile(explicit?: string): string | undefined {
  if (explicit) return resolve(explicit);
  if (process.env.FACTEUR_CONFIG) return resolve(process.env.FACTEUR_CONFIG);
  for (const p of DEFAULT_CONFIG_PATHS) if (existsSync(p)) return resolve(p);
  return undefined;
}

export function loadConfig(explicit?: string, overrides: Record<string, string> = {}): LoadedConfig {
  const file = findConfigFile(explicit);
  if (file) return { config: Config.fromFile(file, { overrides }), file };
  return { config: Config.embedded({ overrides }) };
}

/** Load for commands that read the data directory (user, queue …): `--data DIR` wins. */
export function loadConfigWithData(opts: { config?: string; data?: string }): LoadedConfig {
  const overrides: Record<string, string> = {};
  if (opts.data) overrides.data_directory = resolve(opts.data);
  return loadConfig(opts.config, overrides);
}
