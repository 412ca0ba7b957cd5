import { constants } from 'node:os';
import { CLOSE_CODE_DESCRIPTIONS } from './wire.js';

/** Exit status when the session failed or ended without the remote status (ssh uses 255 too). */
export const EXIT_UNKNOWN = 255;

/**
 * A signal name ("SIGKILL", "KILL") or number ("9") as its number on this platform, or undefined.
 * Signal numbers differ between systems for a few signals; the local table is the best we know.
 */
export function signalNumber(signal: string): number | undefined {
  const s = signal.trim().toUpperCase();
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    return n >= 1 && n <= 127 ? n : undefined;
  }
  const name = (s.startsWith('SIG') ? s : `SIG${s}`) as keyof typeof constants.signals;
  const n = Object.hasOwn(constants.signals, name) ? constants.signals[name] : undefined;
  return typeof n === 'number' ? n : undefined;
}

/**
 * The local exit status for the remote process's end, as a shell reports it:
 * exit code 0-255 as is (others masked to 8 bits); killed by a signal: 128 + its number;
 * no code and an unknown or no signal: 255.
 */
export function exitStatus(code: number | null, signal: string | null): number {
  if (code !== null) return code & 0xff;
  if (signal !== null) {
    const n = signalNumber(signal);
    if (n !== undefined) return 128 + n;
  }
  return EXIT_UNKNOWN;
}

/** "4411 access revoked or expired: <reason>" for a WebSocket close without an exit frame. */
export function describeClose(code: number, reason: string): string {
  const desc = CLOSE_CODE_DESCRIPTIONS[code] ?? (code === 1006 ? 'connection lost' : 'unknown close code');
  return `${code} ${desc}${reason ? ` (${reason})` : ''}`;
}
