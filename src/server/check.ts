// Everything `facteur config check` and `facteur serve` verify before anything runs:
// the configuration file itself (syntax, names, values, readable files), the
// restriction engine's start-up checks (relay control present, restriction classes,
// DNS-list filters) and the contents of every lookup table the policy uses.
import type { Config, ConfigDiagnostic } from '../config/config.js';
import { checkPolicyTables, validatePolicyConfig } from '../smtp/policy/validate.js';
import { checkUidlFormat } from '../pop3/uidl.js';

export async function checkConfiguration(config: Config): Promise<ConfigDiagnostic[]> {
  const out = [...config.diagnostics];
  if (config.errors.length > 0) return out;
  out.push(...validatePolicyConfig(config));
  out.push(...(await checkPolicyTables(config)));
  const uidl = checkUidlFormat(config.get('pop3_uidl_format'));
  if (uidl) {
    const e = config.entry('pop3_uidl_format');
    out.push({ severity: 'error', file: e?.file ?? '(default)', line: e?.line ?? 0, param: 'pop3_uidl_format', message: uidl });
  }
  return out;
}
