import { useEffect, useRef, useState } from 'react';
import { Link, useParams } from 'wouter';
import * as AsciinemaPlayer from 'asciinema-player';
import 'asciinema-player/dist/bundle/asciinema-player.css';
import { api } from '../api/client';
import { ErrorBox, PageHead } from '../components/ui';
import { duration } from '../format';
import { castMarkers } from '../lib/cast';

declare global {
  interface Window {
    /** Test hook: the recording player. */
    __corralPlayer?: AsciinemaPlayer.Player;
  }
}

const SPEEDS = [0.5, 1, 1.5, 2, 4, 8];

/** Play one recording with asciinema-player: speed, idle-time limit, and a list of commands to jump to. */
export default function RecordingPage() {
  const { id = '' } = useParams<{ id: string }>();
  const host = useRef<HTMLDivElement>(null);
  const player = useRef<AsciinemaPlayer.Player | null>(null);
  const [cast, setCast] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [speed, setSpeed] = useState(1);
  const [idle, setIdle] = useState(2);
  const [current, setCurrent] = useState<number | null>(null);

  useEffect(() => {
    const ac = new AbortController();
    api
      .get<string>(`/api/v1/recordings/${encodeURIComponent(id)}?format=cast`, { signal: ac.signal })
      .then((t) => setCast(typeof t === 'string' ? t : JSON.stringify(t)))
      .catch((e: unknown) => (e as Error).name !== 'AbortError' && setError(e));
    return () => ac.abort();
  }, [id]);

  const markers = cast ? castMarkers(cast) : [];

  useEffect(() => {
    if (!cast || !host.current) return;
    const p = AsciinemaPlayer.create({ data: cast }, host.current, {
      speed,
      idleTimeLimit: idle || undefined,
      fit: 'width',
      controls: true,
      terminalFontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace',
    });
    p.addEventListener('marker', ({ index }) => setCurrent(index));
    player.current = p;
    window.__corralPlayer = p;
    return () => {
      p.dispose();
      player.current = null;
      if (window.__corralPlayer === p) window.__corralPlayer = undefined;
    };
  }, [cast, speed, idle]);

  return (
    <section>
      <PageHead
        title={
          <>
            <Link href="/recordings">Recordings</Link> / <code>{id}</code>
          </>
        }
      >
        <label>
          Speed
          <select value={speed} onChange={(e) => setSpeed(Number(e.target.value))}>
            {SPEEDS.map((s) => (
              <option key={s} value={s}>
                {s}×
              </option>
            ))}
          </select>
        </label>
        <label>
          Skip idle time over
          <select value={idle} onChange={(e) => setIdle(Number(e.target.value))}>
            <option value={0}>never</option>
            <option value={1}>1 s</option>
            <option value={2}>2 s</option>
            <option value={5}>5 s</option>
          </select>
        </label>
        <a className="button" href={`/api/v1/recordings/${encodeURIComponent(id)}?format=cast`} download>
          Download .cast
        </a>
      </PageHead>
      <ErrorBox error={error} />
      <div className="player-layout">
        <div ref={host} className="player-host" data-testid="player" />
        <nav className="markers" aria-label="Commands in this recording">
          <h2>Commands</h2>
          {markers.length === 0 ? (
            <p className="muted small">No commands were captured in this session.</p>
          ) : (
            <ol>
              {markers.map((m, i) => (
                <li key={i}>
                  <button
                    type="button"
                    className={`link ${current === i ? 'current' : ''}`}
                    onClick={() => void player.current?.seek({ marker: i }).then(() => player.current?.play())}
                  >
                    <span className="muted small">{duration(m.time)}</span> <code>{m.label}</code>
                  </button>
                </li>
              ))}
            </ol>
          )}
        </nav>
      </div>
    </section>
  );
}
