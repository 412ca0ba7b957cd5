/** A command marker of a recording: asciicast v2 `[time, "m", label]` events (one per captured command). */
export interface Marker {
  time: number;
  label: string;
}

/** The markers of an asciicast v2 recording, in order (malformed lines are skipped). */
export function castMarkers(cast: string): Marker[] {
  const out: Marker[] = [];
  for (const line of cast.split('\n').slice(1)) {
    if (!line.includes('"m"')) continue;
    try {
      const ev = JSON.parse(line) as unknown;
      if (Array.isArray(ev) && ev[1] === 'm' && typeof ev[0] === 'number')
        out.push({ time: ev[0], label: String(ev[2]) });
    } catch {
      /* a partial last line */
    }
  }
  return out;
}
