import { createServer, type Server, type Socket } from 'node:net';
import { WebSocket, type RawData } from 'ws';
import { TunnelOpenResponse } from '@corral/protocol';
import { ApiClient } from '../api-client.js';
import { println, type CliContext } from '../context.js';
import { ApiError, CliError, describeError } from '../errors.js';
import { requireLogin } from './common.js';

/** `corral tunnel SERVER -L [BIND:]LOCAL_PORT:TARGET_HOST:TARGET_PORT [-L ...]` (like ssh -L). */

export interface Forward {
  bindHost: string;
  localPort: number;
  targetHost: string;
  targetPort: number;
}

/** Parse `8080:127.0.0.1:80`, `0.0.0.0:8080:localhost:80`, `[::1]:8080:[::1]:80`. */
export function parseForward(spec: string): Forward {
  const parts: string[] = [];
  let rest = spec;
  while (rest.length) {
    if (rest.startsWith('[')) {
      const end = rest.indexOf(']');
      if (end < 0) break;
      parts.push(rest.slice(1, end));
      rest = rest.slice(end + 1).replace(/^:/, '');
    } else {
      const i = rest.indexOf(':');
      parts.push(i < 0 ? rest : rest.slice(0, i));
      rest = i < 0 ? '' : rest.slice(i + 1);
    }
  }
  const bad = () => new CliError(`-L takes [BIND:]LOCAL_PORT:TARGET_HOST:TARGET_PORT (got "${spec}")`);
  if (parts.length !== 3 && parts.length !== 4) throw bad();
  const [bindHost, lp, th, tp] = parts.length === 4 ? parts : ['127.0.0.1', ...parts];
  const localPort = Number(lp);
  const targetPort = Number(tp);
  if (!bindHost || !th || !Number.isInteger(localPort) || localPort < 0 || localPort > 65535) throw bad();
  if (!Number.isInteger(targetPort) || targetPort < 1 || targetPort > 65535) throw bad();
  return { bindHost, localPort, targetHost: th, targetPort };
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

const HIGH_WATER = 1024 * 1024;

/**
 * Run until Ctrl-C: listen on each local port; every accepted connection opens its own channel to the
 * target as seen from the server, with backpressure both ways. Resolves with the exit status.
 */
export async function tunnel(
  ctx: CliContext,
  server: string,
  opts: { forward?: string[]; workSession?: string },
): Promise<number> {
  const forwards = (opts.forward ?? []).map(parseForward);
  if (forwards.length === 0) throw new CliError('give at least one -L [BIND:]LOCAL_PORT:TARGET_HOST:TARGET_PORT');
  const config = requireLogin(ctx);
  const api = new ApiClient({ baseUrl: config.url, caPem: config.caPem, token: config.token });
  const servers: Server[] = [];
  let open = 0;

  const bridge = async (f: Forward, sock: Socket): Promise<void> => {
    sock.pause();
    let res;
    try {
      res = await api.request('POST', `/api/v1/servers/${encodeURIComponent(server)}/tunnels`, {
        body: {
          host: f.targetHost,
          port: f.targetPort,
          ...(opts.workSession ? { workSessionId: opts.workSession } : {}),
        },
        parse: (x) => TunnelOpenResponse.parse(x),
      });
    } catch (err) {
      println(ctx.stderr, `corral: ${describeError(err).message}`);
      sock.destroy();
      return;
    }
    const ws = new WebSocket(config.url.replace(/^https:/, 'wss:') + res.path, {
      ca: config.caPem,
      minVersion: 'TLSv1.3',
      agent: api.agent,
      perMessageDeflate: false,
      maxPayload: 4 * 1024 * 1024,
    });
    open++;
    let paused = false;
    const onSent = (): void => {
      if (paused && ws.bufferedAmount <= HIGH_WATER / 4) {
        paused = false;
        sock.resume();
      }
    };
    ws.once('open', () => sock.resume());
    sock.on('data', (d: Buffer) => {
      if (ws.readyState !== WebSocket.OPEN) return;
      ws.send(d, { binary: true }, onSent);
      if (!paused && ws.bufferedAmount > HIGH_WATER) {
        paused = true;
        sock.pause();
      }
    });
    sock.on('drain', () => ws.resume());
    ws.on('message', (data, isBinary) => {
      if (!isBinary) {
        try {
          const m = JSON.parse(toBuffer(data).toString('utf8')) as { type?: string; code?: string; message?: string };
          if (m.type === 'error') println(ctx.stderr, `corral: ${m.code ?? 'ERROR'}: ${m.message ?? ''}`);
        } catch {
          /* not for us */
        }
        return;
      }
      if (!sock.write(toBuffer(data))) ws.pause();
    });
    const done = (): void => {
      sock.destroy();
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(1000);
    };
    sock.once('end', () => ws.readyState === WebSocket.OPEN && ws.close(1000, 'done'));
    sock.once('error', done);
    ws.once('close', () => {
      open--;
      sock.end();
    });
    ws.once('error', (err) => {
      println(ctx.stderr, `corral: tunnel connection failed: ${err.message}`);
      done();
    });
  };

  try {
    for (const f of forwards) {
      const srv = createServer((sock) => void bridge(f, sock));
      await new Promise<void>((resolve, reject) => {
        srv.once('error', (err) =>
          reject(new CliError(`cannot listen on ${f.bindHost}:${f.localPort}: ${(err as Error).message}`)),
        );
        srv.listen(f.localPort, f.bindHost, () => resolve());
      });
      servers.push(srv);
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : f.localPort;
      println(
        ctx.stderr,
        `Forwarding ${f.bindHost}:${port} -> ${server} -> ${f.targetHost}:${f.targetPort} (Ctrl-C to stop)`,
      );
    }
    // Check access once up front, so a refusal shows now rather than at the first connection.
    await api
      .request('GET', `/api/v1/servers/${encodeURIComponent(server)}`, { parse: (x) => x })
      .catch((err: unknown) => {
        if (err instanceof ApiError) throw err;
      });
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    println(ctx.stderr, `Stopped (${open} connection(s) were open).`);
    return 0;
  } finally {
    for (const s of servers) s.close();
    api.close();
  }
}
