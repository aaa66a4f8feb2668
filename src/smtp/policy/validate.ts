// Start-up checks of the restriction configuration, as Postfix's smtpd_check_init does:
// relay control must exist (Postfix exits with "in parameter smtpd_relay_restrictions or
// smtpd_recipient_restrictions, specify at least one working instance of: ..."), restriction
// classes need definitions, DNS list reply filters and tempfail actions must parse, bare
// tables need a list that says what they check. checkPolicyTables additionally loads every
// table and reports its problems with the table's file:line.
import type { Config, ConfigDiagnostic, Restriction } from '../../config/config.js';
import { SERVICES, type ServiceName } from '../../config/params/types.js';
import { openTable, openTables, type TableCache, type TableDiagnostic } from '../../maps/index.js';
import { parseReplyFilter, splitListArg } from './dnsxl.js';

/** The services that run an SMTP server (and so a restriction engine). */
export const SMTPD_SERVICES: ServiceName[] = SERVICES.filter((s) => s === 'smtp' || s === 'submission' || s === 'submissions');

const RELAY_CONTROL = ['reject_unauth_destination', 'defer_unauth_destination', 'reject', 'defer', 'defer_if_permit'];

const LISTS = [
  'smtpd_client_restrictions',
  'smtpd_helo_restrictions',
  'smtpd_sender_restrictions',
  'smtpd_relay_restrictions',
  'smtpd_recipient_restrictions',
  'smtpd_data_restrictions',
  'smtpd_end_of_data_restrictions',
  'smtpd_etrn_restrictions',
] as const;

function where(config: Config, name: string, service?: string): { file: string; line: number } {
  const e = config.entry(name, service);
  return e ? { file: e.file, line: e.line } : { file: config.file ?? '(built-in default)', line: 0 };
}

function safeList(config: Config, name: string, service: string | undefined): Restriction[] | undefined {
  try {
    return config.restrictions(name, service);
  } catch {
    return undefined; // reported by the configuration reader
  }
}

/** has_required(): does the list contain a restriction that refuses by default? */
function hasRequired(config: Config, list: Restriction[], service: string | undefined, seen = new Set<string>()): boolean {
  for (let i = 0; i < list.length; i++) {
    const r = list[i];
    if (r.name === 'warn_if_reject') {
      i++;
      continue;
    }
    if (r.name === 'permit') return false;
    if (RELAY_CONTROL.includes(r.name)) return true;
    if (isClass(config, r.name) && !seen.has(r.name)) {
      seen.add(r.name);
      const sub = safeList(config, r.name, service);
      if (sub && hasRequired(config, sub, service, seen)) return true;
    }
  }
  return false;
}

function isClass(config: Config, name: string): boolean {
  return config.list('smtpd_restriction_classes').includes(name);
}

/** Synchronous checks for `config check` and server start-up, for every SMTP service. */
export function validatePolicyConfig(config: Config, services: ServiceName[] = SMTPD_SERVICES): ConfigDiagnostic[] {
  const out: ConfigDiagnostic[] = [];
  const seen = new Set<string>();
  const push = (d: ConfigDiagnostic) => {
    const key = `${d.file}:${d.line}:${d.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(d);
    }
  };

  for (const name of config.list('smtpd_restriction_classes')) {
    if (!config.get(name).trim()) push({ severity: 'error', ...where(config, 'smtpd_restriction_classes'), param: 'smtpd_restriction_classes', message: `restriction class "${name}" needs a definition (${name} = ...)` });
  }

  for (const svc of services) {
    const relay = safeList(config, 'smtpd_relay_restrictions', svc) ?? [];
    const rcpt = safeList(config, 'smtpd_recipient_restrictions', svc) ?? [];
    if (!hasRequired(config, relay, svc) && !hasRequired(config, rcpt, svc)) {
      const at = config.entry('smtpd_relay_restrictions', svc) ? where(config, 'smtpd_relay_restrictions', svc) : where(config, 'smtpd_recipient_restrictions', svc);
      push({
        severity: 'error',
        ...at,
        param: `${svc === 'smtp' ? '' : svc + '.'}smtpd_relay_restrictions`,
        message: `service ${svc}: in parameter smtpd_relay_restrictions or smtpd_recipient_restrictions, specify at least one working instance of: ${RELAY_CONTROL.slice(0, -1).join(', ')} or ${RELAY_CONTROL.at(-1)} (refusing to run as an open relay)`,
      });
    }
    for (const listName of LISTS) {
      const list = safeList(config, listName, svc);
      if (!list) continue;
      const at = where(config, listName, svc);
      for (const r of list) {
        if ((r.name === 'check_access') && (listName === 'smtpd_data_restrictions' || listName === 'smtpd_end_of_data_restrictions')) {
          push({ severity: 'error', ...at, param: listName, message: `specify one of check_client_access, check_helo_access, check_sender_access or check_recipient_access before the table "${r.text}"` });
        }
        if (r.arg && /^(reject_rbl_client|permit_dnswl_client|reject_rhsbl_\w+|permit_rhswl_client)$/.test(r.name)) {
          const { filter } = splitListArg(r.arg);
          if (filter !== undefined) {
            try {
              parseReplyFilter(filter);
            } catch (err) {
              push({ severity: 'error', ...at, param: listName, message: `${r.text}: ${(err as Error).message}` });
            }
          }
        }
      }
    }
    for (const p of ['reject_tempfail_action', 'unknown_address_tempfail_action', 'unknown_helo_hostname_tempfail_action']) {
      const v = config.get(p, svc).trim();
      if (v !== 'defer_if_permit' && v !== 'defer') push({ severity: 'error', ...where(config, p, svc), param: p, message: `bad value "${v}" (use defer_if_permit or defer)` });
    }
  }
  return out;
}

function tableDiag(d: TableDiagnostic, param: string): ConfigDiagnostic {
  return { severity: d.severity, file: d.file, line: d.line, param, message: d.message };
}

/** Load every table the restriction engine uses and report load problems (bad lines, untranslatable patterns). */
export async function checkPolicyTables(config: Config, services: ServiceName[] = SMTPD_SERVICES, cache?: TableCache): Promise<ConfigDiagnostic[]> {
  const out: ConfigDiagnostic[] = [];
  const done = new Set<string>();
  const opts = { cache, baseDir: config.baseDir };
  const visit = async (param: string, refs: { text: string; type: string; name: string }[]) => {
    for (const ref of refs) {
      if (done.has(ref.text)) continue;
      done.add(ref.text);
      try {
        for (const d of await openTable(ref, opts).check()) out.push(tableDiag(d, param));
      } catch (err) {
        out.push({ severity: 'error', file: ref.text, line: 0, param, message: (err as Error).message });
      }
    }
  };
  for (const svc of services) {
    const lists = [...LISTS, ...config.list('smtpd_restriction_classes')];
    for (const listName of lists) {
      const list = safeList(config, listName, svc) ?? [];
      await visit(listName, list.filter((r) => r.table).map((r) => r.table!));
    }
    for (const p of ['smtpd_sender_login_maps', 'rbl_reply_maps']) {
      try {
        const t = openTables(config.tables(p, svc), opts);
        for (const d of await t.check()) out.push(tableDiag(d, p));
      } catch (err) {
        out.push({ severity: 'error', file: config.file ?? '', line: 0, param: p, message: (err as Error).message });
      }
    }
  }
  return out;
}
