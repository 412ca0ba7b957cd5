import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { AsciicastRecorder } from './recorder.js';
import { silentLogger } from '../log.js';

describe('AsciicastRecorder', () => {
  const record = async (recordInput: boolean) => {
    const dir = mkdtempSync(join(tmpdir(), 'rec-'));
    let now = 1_000_000;
    const path = join(dir, 'a', 's.cast.gz');
    const r = new AsciicastRecorder(
      path,
      { cols: 100, rows: 30, title: 't' },
      recordInput,
      { now: () => now },
      silentLogger,
    );
    r.output(Buffer.from('$ '));
    now += 500;
    r.input(Buffer.from('ls -lx'));
    r.input(Buffer.from('\x7fa\r'));
    r.marker('ls -la');
    // A multi-byte character split across two frames stays whole.
    const check = Buffer.from('✓');
    r.output(check.subarray(0, 1));
    now += 250;
    r.output(check.subarray(1));
    r.resize(120, 40);
    r.input(Buffer.from('secret\x03'));
    r.input(Buffer.from('\r'));
    const res = (await r.close())!;
    const raw = readFileSync(path);
    rmSync(dir, { recursive: true, force: true });
    const lines = gunzipSync(raw)
      .toString()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as unknown);
    return { res, raw, lines };
  };

  it('writes asciicast v2 with output, resize, markers and, when recording input, keystrokes', async () => {
    const { res, raw, lines } = await record(true);
    expect(lines[0]).toMatchObject({ version: 2, width: 100, height: 30, title: 't' });
    const events = lines.slice(1) as Array<[number, string, string]>;
    expect(
      events
        .filter((e) => e[1] === 'o')
        .map((e) => e[2])
        .join(''),
    ).toBe('$ ✓');
    expect(events.find((e) => e[1] === 'r')).toEqual([0.75, 'r', '120x40']);
    expect(events.filter((e) => e[1] === 'm').map((e) => e[2])).toEqual(['ls -la']);
    expect(
      events
        .filter((e) => e[1] === 'i')
        .map((e) => e[2])
        .join(''),
    ).toBe('ls -lx\x7fa\rsecret\x03\r');
    expect(res.sha256).toBe(createHash('sha256').update(raw).digest('hex'));
    expect(res.bytes).toBe(raw.length);
  });

  it('keeps keystrokes out unless the workspace records input', async () => {
    const { lines } = await record(false);
    const kinds = new Set((lines.slice(1) as Array<[number, string]>).map((e) => e[1]));
    expect([...kinds].sort()).toEqual(['m', 'o', 'r']);
  });
});
