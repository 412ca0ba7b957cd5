/** Plain ANSI colours, or identity functions when colour is off (not a terminal, or NO_COLOR set). */
export interface Colors {
  green(s: string): string;
  red(s: string): string;
  yellow(s: string): string;
  dim(s: string): string;
  bold(s: string): string;
}

const wrap = (open: number, close: number) => (s: string) => `\x1b[${open}m${s}\x1b[${close}m`;
const same = (s: string) => s;

export function colors(enabled: boolean): Colors {
  if (!enabled) return { green: same, red: same, yellow: same, dim: same, bold: same };
  return { green: wrap(32, 39), red: wrap(31, 39), yellow: wrap(33, 39), dim: wrap(2, 22), bold: wrap(1, 22) };
}
