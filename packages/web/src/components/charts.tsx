/** Hand-made SVG charts: a sparkline for lists and a line chart with axes for the server page. */

export interface Series {
  label: string;
  values: (number | null)[];
  className: string;
}

function path(values: (number | null)[], w: number, h: number, max: number): string {
  const n = values.length;
  let d = '';
  let pen = false;
  values.forEach((v, i) => {
    if (v === null || Number.isNaN(v)) {
      pen = false;
      return;
    }
    const x = n <= 1 ? w : (i / (n - 1)) * w;
    const y = h - (Math.min(v, max) / (max || 1)) * h;
    d += `${pen ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)}`;
    pen = true;
  });
  return d;
}

/** A small line without axes; percentages (0..100) unless `max` is given. */
export function Sparkline({
  values,
  label,
  max = 100,
  width = 96,
  height = 24,
}: {
  values: (number | null)[];
  label: string;
  max?: number;
  width?: number;
  height?: number;
}) {
  const last = [...values].reverse().find((v) => v !== null);
  return (
    <svg
      className="sparkline"
      width={width}
      height={height}
      viewBox={`0 0 ${width} ${height}`}
      role="img"
      aria-label={`${label}: ${last === undefined || last === null ? 'no data' : `${Math.round(last)} % now`}`}
    >
      <path d={path(values, width, height - 2, max)} transform="translate(0,1)" />
    </svg>
  );
}

/**
 * A line chart with a y axis (0..max, or the data's maximum), time labels at both ends and a legend.
 * `format` renders axis values.
 */
export function LineChart({
  title,
  series,
  times,
  max,
  format,
}: {
  title: string;
  series: Series[];
  times: string[];
  max?: number;
  format: (v: number) => string;
}) {
  const W = 560;
  const H = 160;
  const PAD_L = 64;
  const dataMax = Math.max(0, ...series.flatMap((s) => s.values.filter((v): v is number => v !== null)));
  const top = max ?? (dataMax > 0 ? dataMax * 1.1 : 1);
  const first = times[0];
  const last = times[times.length - 1];
  const latest = series.map((s) => {
    const v = [...s.values].reverse().find((x) => x !== null);
    return `${s.label} ${v === undefined || v === null ? '–' : format(v)}`;
  });
  return (
    <figure className="chart">
      <figcaption>
        <strong>{title}</strong> <span className="muted">{latest.join(' · ')}</span>
      </figcaption>
      {times.length === 0 ? (
        <p className="muted">No samples in this range yet.</p>
      ) : (
        <svg viewBox={`0 0 ${W + PAD_L} ${H + 20}`} role="img" aria-label={`${title}: ${latest.join(', ')}`}>
          <g transform={`translate(${PAD_L},4)`}>
            {[0, 0.5, 1].map((f) => (
              <g key={f}>
                <line className="grid" x1={0} x2={W} y1={H - f * H} y2={H - f * H} />
                <text className="axis" x={-6} y={H - f * H + 4} textAnchor="end">
                  {format(top * f)}
                </text>
              </g>
            ))}
            {series.map((s) => (
              <path key={s.label} className={`line ${s.className}`} d={path(s.values, W, H, top)} />
            ))}
            {series.map((s) => {
              // The newest value as a dot: visible even when the range holds a single sample.
              const i = s.values.length - 1;
              const v = s.values[i];
              if (v === null || v === undefined) return null;
              return (
                <circle
                  key={s.label}
                  className={s.className}
                  cx={W}
                  cy={H - (Math.min(v, top) / (top || 1)) * H}
                  r={2.5}
                />
              );
            })}
            <text className="axis" x={0} y={H + 14}>
              {first ? new Date(first).toLocaleString() : ''}
            </text>
            <text className="axis" x={W} y={H + 14} textAnchor="end">
              {last ? new Date(last).toLocaleString() : ''}
            </text>
          </g>
        </svg>
      )}
      {series.length > 1 && (
        <ul className="legend">
          {series.map((s) => (
            <li key={s.label}>
              <span className={`swatch ${s.className}`} aria-hidden="true" />
              {s.label}
            </li>
          ))}
        </ul>
      )}
    </figure>
  );
}
