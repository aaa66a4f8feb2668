import type { ParamSpec } from './types.js';

const g = 'smtpd' as const;

// SMTP server protocol limits and behaviour (postconf(5) names and defaults).
export const SMTPD_PARAMS: ParamSpec[] = [
  { name: 'smtpd_banner', type: 'string', default: '$myhostname ESMTP $mail_name', group: g, doc: 'Text after the 220 code of the greeting.' },
  { name: 'line_length_limit', type: 'int', min: 80, default: '2048', group: g, doc: 'Longest SMTP command line; longer message lines are split into continuation records as Postfix does.' },
  { name: 'message_size_limit', type: 'size', default: '10240000', group: g, doc: 'Largest message accepted (SIZE= at MAIL and the real size during DATA/BDAT: 552 5.3.4).' },
  { name: 'header_size_limit', type: 'size', default: '102400', group: g, doc: 'Largest header block; beyond it the message is refused (552 5.3.4 Message header too long).' },
  { name: 'smtpd_recipient_limit', type: 'int', min: 1, default: '1000', group: g, doc: 'Most recipients per message (452 4.5.3 Error: too many recipients).' },
  { name: 'smtpd_recipient_overshoot_limit', type: 'int', min: 0, default: '1000', group: g, doc: 'Recipients beyond smtpd_recipient_limit that count as errors.' },
  { name: 'smtpd_timeout', type: 'time', unit: 's', default: '300s', group: g, doc: 'Time to wait for a client command or data before 421 and disconnect.' },
  { name: 'smtpd_soft_error_limit', type: 'int', min: 0, default: '10', group: g, doc: 'Errors after which each error reply is delayed by smtpd_error_sleep_time.' },
  { name: 'smtpd_hard_error_limit', type: 'int', min: 1, default: '20', group: g, doc: 'Errors after which the client is disconnected (421 4.7.0 Error: too many errors).' },
  { name: 'smtpd_error_sleep_time', type: 'time', unit: 's', default: '1s', group: g, doc: 'Delay of each error reply once smtpd_soft_error_limit is reached.' },
  { name: 'smtpd_junk_command_limit', type: 'int', min: 1, default: '100', group: g, doc: 'NOOP/VRFY/ETRN/RSET commands allowed before they count as errors.' },
  { name: 'smtpd_client_connection_count_limit', type: 'int', min: 0, default: '50', group: g, doc: 'Simultaneous connections one client IP may have (0: no limit); more get 421 4.7.0.' },
  { name: 'smtpd_client_connection_rate_limit', type: 'int', min: 0, default: '0', group: g, doc: 'Connections one client IP may open per anvil_rate_time_unit (0: no limit).' },
  { name: 'smtpd_client_event_limit_exceptions', type: 'networks', default: '$mynetworks', group: g, doc: 'Clients exempt from the per-client connection, rate and auth limits.' },
  { name: 'anvil_rate_time_unit', type: 'time', unit: 's', default: '60s', group: g, doc: 'The time unit of the per-client rate limits.' },
  { name: 'smtpd_forbid_bare_newline', type: 'enum', values: ['normalize', 'yes', 'reject', 'no'], default: 'normalize', group: g, doc: 'Bare LF in SMTP input: normalize (treat as CRLF; never ends DATA), reject (refuse the message), no (accept as is).' },
  { name: 'smtpd_forbid_bare_newline_exclusions', type: 'networks', default: '$mynetworks', group: g, doc: 'Clients excluded from smtpd_forbid_bare_newline = reject.' },
  { name: 'smtpd_forbid_bare_newline_reject_code', type: 'int', min: 400, max: 599, default: '550', group: g, doc: 'Reply code when a bare newline is rejected.' },
  { name: 'smtpd_forbid_unauth_pipelining', type: 'bool', default: 'no', group: g, doc: 'Disconnect clients that pipeline without PIPELINING having been announced (like reject_unauth_pipelining, without a restriction list).' },
  { name: 'disable_vrfy_command', type: 'bool', default: 'yes', group: g, doc: 'Refuse VRFY (502 5.5.1).', differs: 'Postfix\'s default is no; facteur does not let strangers probe addresses unless asked.' },
  { name: 'smtpd_helo_required', type: 'bool', default: 'no', group: g, doc: 'Require HELO/EHLO before MAIL (503 5.5.1 Error: send HELO/EHLO first).' },
  { name: 'strict_rfc821_envelopes', type: 'bool', default: 'no', group: g, doc: 'Require <> around MAIL FROM/RCPT TO addresses and no comments.' },
  { name: 'allow_untrusted_routing', type: 'bool', default: 'no', group: g, doc: 'Allow sender-specified routing (user%host@, user!host, @route:) from untrusted clients.' },
  { name: 'smtputf8_enable', type: 'bool', default: 'yes', group: g, doc: 'Offer SMTPUTF8 (RFC 6531).' },
  { name: 'smtpd_discard_ehlo_keywords', type: 'list', default: '', group: g, doc: 'EHLO keywords not to announce (e.g. chunking, pipelining).' },
  { name: 'smtpd_reject_footer', type: 'string', raw: true, default: '', group: g, doc: 'Text appended to 4xx/5xx replies.' },
  { name: 'smtpd_authorized_xclient_hosts', type: 'networks', default: '', group: g, doc: 'Clients allowed to use XCLIENT (empty: none).' },
  { name: 'receive_override_options', type: 'list', default: '', group: g, doc: 'Postfix receive options; accepted for compatibility.' },
];
