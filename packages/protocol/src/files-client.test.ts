import { describe, expect, it } from 'vitest';
import { FS_CHUNK, FsClient, FsClientError, type FsTransport } from './files-client.js';
import { MAX_DATA_FRAME_BYTES } from './close-codes.js';

/** An in-memory transport: records what the client sends and whether it paused the socket. */
function fakeTransport() {
  const texts: Array<Record<string, unknown>> = [];
  const binaries: Uint8Array[] = [];
  const flow: string[] = [];
  const t: FsTransport = {
    sendText: (s) => void texts.push(JSON.parse(s) as Record<string, unknown>),
    sendBinary: (d) => void binaries.push(d),
    bufferedAmount: () => 0,
    drained: () => Promise.resolve(),
    pause: () => void flow.push('pause'),
    resume: () => void flow.push('resume'),
  };
  return { t, texts, binaries, flow };
}

const tick = () => new Promise<void>((r) => setTimeout(r, 0));

async function readyClient() {
  const f = fakeTransport();
  const client = new FsClient(f.t);
  client.handleText(JSON.stringify({ type: 'ready', sessionId: 'ses_1' }));
  await client.ready();
  return { ...f, client };
}

describe('FsClient', () => {
  it('uploads in frames of the largest size every hop accepts, then commits', async () => {
    // Why this size: each frame costs every process on the path a fixed amount of work; the
    // gateway and the agent accept binary frames up to MAX_DATA_FRAME_BYTES.
    expect(FS_CHUNK).toBe(MAX_DATA_FRAME_BYTES);
    const { client, texts, binaries } = await readyClient();
    const piece = new Uint8Array(FS_CHUNK * 2 + 10);
    const done = client.write(
      '/tmp/x',
      { size: piece.length },
      (async function* () {
        yield piece;
      })(),
    );
    await tick();
    expect(texts[0]).toMatchObject({ type: 'fs.write', path: '/tmp/x', size: piece.length });
    const id = texts[0]!.id as number;
    client.handleText(JSON.stringify({ type: 'fs.ready', id }));
    await tick();
    expect(binaries.map((b) => b.length)).toEqual([FS_CHUNK, FS_CHUNK, 10]);
    expect(texts[1]).toEqual({ type: 'fs.commit', id });
    client.handleText(
      JSON.stringify({ type: 'fs.result', id, path: '/tmp/x', bytes: piece.length, sha256: 'ab'.repeat(32) }),
    );
    await expect(done).resolves.toMatchObject({ bytes: piece.length, sha256: 'ab'.repeat(32), path: '/tmp/x' });
  });

  it('a download whose sink throws (a full disk) fails with that error instead of throwing into the socket', async () => {
    const { client, texts } = await readyClient();
    const read = client.read(
      '/tmp/y',
      {},
      () => {},
      () => {
        throw new Error('ENOSPC: no space left on device');
      },
    );
    await tick();
    const id = texts[0]!.id as number;
    client.handleText(
      JSON.stringify({ type: 'fs.begin', id, size: 3, name: 'y', mode: 0o644, mtime: new Date(0).toISOString() }),
    );
    expect(() => client.handleBinary(new Uint8Array(3))).not.toThrow();
    await expect(read).rejects.toThrow(/ENOSPC/);
  });

  it('a download whose sink returns a promise pauses the socket until it settles', async () => {
    const { client, texts, flow } = await readyClient();
    let release!: () => void;
    const read = client.read(
      '/tmp/z',
      {},
      () => {},
      () => new Promise<void>((r) => (release = r)),
    );
    await tick();
    const id = texts[0]!.id as number;
    client.handleBinary(new Uint8Array(1));
    expect(flow).toEqual(['pause']);
    release();
    await tick();
    expect(flow).toEqual(['pause', 'resume']);
    client.handleText(JSON.stringify({ type: 'fs.end', id, bytes: 1, sha256: 'cd'.repeat(32) }));
    await expect(read).resolves.toEqual({ bytes: 1, sha256: 'cd'.repeat(32) });
  });

  it('an error answer rejects with the agent code', async () => {
    const { client, texts } = await readyClient();
    const st = client.stat('/nope');
    await tick();
    client.handleText(JSON.stringify({ type: 'fs.error', id: texts[0]!.id, code: 'ENOENT', message: '/nope: gone' }));
    await expect(st).rejects.toBeInstanceOf(FsClientError);
  });
});
