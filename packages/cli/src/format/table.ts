import { displayWidth, pad, sanitize, truncate } from './text.js';

/** One column of a table. */
export interface Column<R> {
  header: string;
  /** The cell text; control characters are replaced before display. */
  value(row: R): string;
  /** Colour for the (already padded-to-size) cell, applied only when colour is on. */
  color?(text: string, row: R): string;
  align?: 'left' | 'right';
  /** May be cut (with "…") when the table is wider than the terminal. */
  shrink?: boolean;
}

export interface TableOptions {
  /** Apply column colours. */
  color: boolean;
  /** Terminal width in columns; when set, shrinkable columns are cut to fit. */
  maxWidth?: number | undefined;
}

const GAP = '  ';
/** A shrinkable column never gets narrower than this (or its header). */
const MIN_SHRUNK = 8;

/**
 * Render rows as aligned columns under an upper-case header line, two spaces apart, without trailing
 * spaces. Widths are measured in terminal columns (wide characters count 2).
 */
export function renderTable<R>(columns: Column<R>[], rows: R[], opts: TableOptions): string {
  const cells = rows.map((row) => columns.map((c) => sanitize(c.value(row))));
  const widths = columns.map((c, i) => Math.max(displayWidth(c.header), ...cells.map((r) => displayWidth(r[i] ?? ''))));

  if (opts.maxWidth !== undefined && opts.maxWidth > 0) {
    let total = widths.reduce((a, b) => a + b, 0) + GAP.length * (columns.length - 1);
    // Shrink from the last shrinkable column backwards until the table fits.
    for (let i = columns.length - 1; i >= 0 && total > opts.maxWidth; i--) {
      const col = columns[i];
      const w = widths[i];
      if (!col?.shrink || w === undefined) continue;
      const floor = Math.max(MIN_SHRUNK, displayWidth(col.header));
      const next = Math.max(floor, w - (total - opts.maxWidth));
      total -= w - next;
      widths[i] = next;
    }
  }

  const line = (texts: string[], row: R | undefined): string =>
    texts
      .map((text, i) => {
        const col = columns[i]!;
        const width = widths[i]!;
        const last = i === texts.length - 1;
        const cut = truncate(text, width);
        const padded = last && col.align !== 'right' ? cut : pad(cut, width, col.align);
        return opts.color && row !== undefined && col.color ? col.color(padded, row) : padded;
      })
      .join(GAP);

  const out = [
    line(
      columns.map((c) => c.header),
      undefined,
    ),
  ];
  rows.forEach((row, r) => out.push(line(cells[r]!, row)));
  return out.join('\n') + '\n';
}

/**
 * Render label/value pairs as an aligned list ("Name:    web-01"). Values are cleaned of control
 * characters; a value may span several lines (continuation lines are indented).
 */
export function renderKeyValues(pairs: [string, string][]): string {
  const width = Math.max(0, ...pairs.map(([k]) => displayWidth(k) + 1));
  return (
    pairs
      .map(([k, v]) => {
        const lines = sanitizeLines(v);
        const head = `${pad(k + ':', width)}  ${lines[0] ?? ''}`;
        return [head, ...lines.slice(1).map((l) => ' '.repeat(width + 2) + l)].join('\n').trimEnd();
      })
      .join('\n') + '\n'
  );
}

function sanitizeLines(v: string): string[] {
  return v.split('\n').map(sanitize);
}
