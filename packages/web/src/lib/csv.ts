import type { AuditEventView } from '@corral/protocol';

export const AUDIT_CSV_COLUMNS = [
  'seq',
  'ts',
  'action',
  'outcome',
  'actorType',
  'actorName',
  'targetType',
  'targetName',
  'sourceIp',
  'details',
  'hash',
] as const;

/** One CSV cell (RFC 4180): quoted when it holds a quote, comma or line break; objects as JSON. */
export function csvCell(v: unknown): string {
  let s = v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v);
  // A cell starting with = + - @ is a formula to spreadsheet programs: neutralise it (CSV injection).
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Audit events as CSV with a header line; details as JSON in one column. CRLF line ends. */
export function auditCsv(items: AuditEventView[]): string {
  return (
    [AUDIT_CSV_COLUMNS.join(','), ...items.map((e) => AUDIT_CSV_COLUMNS.map((c) => csvCell(e[c])).join(','))].join(
      '\r\n',
    ) + '\r\n'
  );
}
