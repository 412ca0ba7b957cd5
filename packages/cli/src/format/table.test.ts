import { describe, expect, it } from 'vitest';
import { renderKeyValues, renderTable, type Column } from './table.js';
import { displayWidth, sanitize, truncate } from './text.js';

type Row = { name: string; status: string; tags: string };
const cols: Column<Row>[] = [
  { header: 'NAME', value: (r) => r.name },
  { header: 'STATUS', value: (r) => r.status, color: (t) => `\x1b[32m${t}\x1b[39m` },
  { header: 'TAGS', value: (r) => r.tags, shrink: true },
];
const rows: Row[] = [
  { name: 'web-01', status: 'online', tags: 'env=prod,role=web' },
  { name: 'db', status: 'offline', tags: '-' },
];

describe('renderTable', () => {
  it('aligns every column to its widest cell, two spaces apart, no trailing spaces', () => {
    expect(renderTable(cols, rows, { color: false })).toBe(
      'NAME    STATUS   TAGS\n' + 'web-01  online   env=prod,role=web\n' + 'db      offline  -\n',
    );
  });

  it('colours cells without letting the escape codes change the alignment', () => {
    const out = renderTable(cols, rows, { color: true });
    const lines = out.trimEnd().split('\n');
    expect(lines[1]).toContain('\x1b[32monline \x1b[39m');
    // Visible widths match the uncoloured rendering.
    const plain = renderTable(cols, rows, { color: false }).trimEnd().split('\n');
    expect(lines.map(displayWidth)).toEqual(plain.map((l) => l.length));
  });

  it('measures wide characters as two columns', () => {
    const out = renderTable(cols, [{ name: '服务器', status: 'online', tags: '-' }, rows[1]!], { color: false });
    const [, a, b] = out.split('\n');
    expect(displayWidth(a!.split('online')[0]!)).toBe(displayWidth(b!.split('offline')[0]!));
  });

  it('cuts shrinkable columns to fit the terminal width, ending them with an ellipsis', () => {
    const out = renderTable(cols, rows, { color: false, maxWidth: 28 });
    for (const line of out.trimEnd().split('\n')) expect(displayWidth(line)).toBeLessThanOrEqual(28);
    expect(out).toContain('env=prod,r…');
    expect(out).not.toContain('role=web');
  });

  it('replaces control characters so a server name cannot write escape sequences to the terminal', () => {
    const out = renderTable(cols, [{ name: 'evil\x1b]0;pwned\x07', status: 'online', tags: '-' }], { color: false });
    expect(out).not.toContain('\x1b');
    expect(out).not.toContain('\x07');
  });

  it('right-aligns numeric columns', () => {
    const num: Column<{ n: number }>[] = [
      { header: 'SEQ', value: (r) => String(r.n), align: 'right' },
      { header: 'X', value: () => 'x' },
    ];
    expect(renderTable(num, [{ n: 7 }, { n: 1234 }], { color: false })).toBe(' SEQ  X\n   7  x\n1234  x\n');
  });
});

describe('renderKeyValues', () => {
  it('aligns values after the labels and indents continuation lines', () => {
    expect(
      renderKeyValues([
        ['Name', 'web-01'],
        ['Addresses', '10.0.0.1\n10.0.0.2'],
      ]),
    ).toBe('Name:       web-01\nAddresses:  10.0.0.1\n            10.0.0.2\n');
  });
});

describe('text helpers', () => {
  it('truncate keeps short strings and cuts long ones to the width', () => {
    expect(truncate('abc', 5)).toBe('abc');
    expect(truncate('abcdefgh', 5)).toBe('abcd…');
    expect(displayWidth(truncate('服务器服务器', 5))).toBeLessThanOrEqual(5);
  });
  it('sanitize replaces C0, DEL and C1 controls', () => {
    expect(sanitize('a\x00b\x7fc\x9bd')).toBe('a\uFFFDb\uFFFDc\uFFFDd');
  });
});
