import { request as httpRequest, type RequestOptions } from 'node:http';
import { Agent as HttpsAgent, type AgentOptions } from 'node:https';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';

/**
 * HTTP CONNECT proxies for the agent's outbound TLS (control and channel sockets, registration,
 * artifact downloads). Like curl and most tools: `HTTPS_PROXY` / `https_proxy`, `NO_PROXY` /
 * `no_proxy`, or `--proxy http://user:pass@host:port`, which wins over the environment.
 *
 *   agent --TCP--> proxy: CONNECT gateway:443 HTTP/1.1 (Proxy-Authorization: Basic ...)
 *         <------- HTTP/1.1 200
 *   agent ==TLS 1.3 through the tunnel, verified against the pinned CA==> gateway
 *
 * The proxy sees only the host name and port; TLS is end to end.
 */

/** A parsed proxy URL. */
export interface ProxyConfig {
  host: string;
  port: number;
  /** `Basic base64(user:pass)` when the URL carries credentials. */
  authorization?: string;
  /** The URL without credentials, for logs. */
  display: string;
}

/**
 * Parse `http://[user:pass@]host[:port]` (port default 80; a bare `host:port` is taken as http).
 * @throws Error naming what is wrong (https:// proxies are not supported: the tunnel is already TLS)
 */
export function parseProxyUrl(text: string): ProxyConfig {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    throw new Error(`proxy "${text}" is not a URL like http://host:3128`);
  }
  if (u.protocol !== 'http:') {
    throw new Error(`proxy "${u.protocol}//${u.host}": only http:// proxies (HTTP CONNECT) are supported`);
  }
  if (!u.hostname) throw new Error(`proxy "${text}" has no host`);
  const user = decodeURIComponent(u.username);
  const pass = decodeURIComponent(u.password);
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port ? Number(u.port) : 80,
    ...(user || pass ? { authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` } : {}),
    display: `http://${u.host}`,
  };
}

/**
 * Whether `NO_PROXY` exempts host:port. Entries are comma- or space-separated: `*` (everything), a host
 * name (itself and its subdomains), `.domain` (subdomains and the domain), an IP address, or any of
 * these with `:port`.
 */
export function bypassesProxy(host: string, port: number, noProxy: string | undefined): boolean {
  if (!noProxy) return false;
  const h = host
    .toLowerCase()
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '');
  for (const raw of noProxy.split(/[\s,]+/)) {
    let entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === '*') return true;
    const m = /^(.*):(\d+)$/.exec(entry);
    if (m && !entry.startsWith('[') && (entry.match(/:/g) ?? []).length === 1) {
      if (Number(m[2]) !== port) continue;
      entry = m[1]!;
    } else if (/^\[.*\]:\d+$/.test(entry)) {
      const [, addr, p] = /^\[(.*)\]:(\d+)$/.exec(entry)!;
      if (Number(p) !== port) continue;
      entry = addr!;
    }
    entry = entry.replace(/^\[|\]$/g, '').replace(/^\*\./, '.');
    if (entry.startsWith('.')) {
      if (h === entry.slice(1) || h.endsWith(entry)) return true;
    } else if (h === entry || h.endsWith(`.${entry}`)) {
      return true;
    }
  }
  return false;
}

/** Which proxy, if any, to use for `url`: `explicit` (from --proxy or the config) beats the environment. */
export function proxyFor(
  url: string,
  opts: { explicit?: string | undefined; httpsProxy?: string | undefined; noProxy?: string | undefined },
): ProxyConfig | undefined {
  const proxy = opts.explicit || opts.httpsProxy;
  if (!proxy) return undefined;
  const u = new URL(url);
  const port = u.port ? Number(u.port) : 443;
  if (bypassesProxy(u.hostname, port, opts.noProxy)) return undefined;
  return parseProxyUrl(proxy);
}

/** Give up on the proxy's answer to CONNECT after this long, in ms. */
const CONNECT_TIMEOUT_MS = 15_000;

/**
 * Open a tunnel to host:port through the proxy. Resolves with the raw socket once the proxy answered
 * 2xx; rejects with the proxy's status line otherwise (407: credentials missing or wrong).
 */
export function openTunnel(proxy: ProxyConfig, host: string, port: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const target = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    const req = httpRequest({
      host: proxy.host,
      port: proxy.port,
      method: 'CONNECT',
      path: target,
      headers: { host: target, ...(proxy.authorization ? { 'proxy-authorization': proxy.authorization } : {}) },
      timeout: CONNECT_TIMEOUT_MS,
      agent: false,
    });
    req.once('connect', (res, socket, head) => {
      if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) > 299) {
        socket.destroy();
        const hint =
          res.statusCode === 407 ? ' (proxy credentials missing or wrong: --proxy http://user:pass@host:port)' : '';
        return reject(
          new Error(
            `proxy ${proxy.display} refused CONNECT ${target}: ${res.statusCode} ${res.statusMessage ?? ''}${hint}`.trim(),
          ),
        );
      }
      if (head.length > 0) socket.unshift(head);
      resolve(socket);
    });
    req.once('timeout', () =>
      req.destroy(new Error(`proxy ${proxy.display} did not answer CONNECT within ${CONNECT_TIMEOUT_MS / 1000} s`)),
    );
    req.once('error', (err) => reject(new Error(`proxy ${proxy.display}: ${err.message}`)));
    req.end();
  });
}

/**
 * An https.Agent whose connections go through an HTTP CONNECT tunnel; TLS (with the caller's CA and
 * SNI) runs inside the tunnel. Usable by node:https requests and by ws (its `agent` option).
 */
export class ConnectProxyAgent extends HttpsAgent {
  constructor(
    readonly proxy: ProxyConfig,
    options: AgentOptions = {},
  ) {
    super({ keepAlive: false, ...options });
  }

  // Node's Agent accepts a connection handed over later through the callback (agent-base does the same).
  override createConnection(
    options: RequestOptions,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): undefined {
    const o = options as ConnectionOptions & { host?: string | null; port?: number | string | null };
    const host = o.host ?? 'localhost';
    const port = Number(o.port ?? 443);
    openTunnel(this.proxy, host, port).then(
      (socket) => {
        const tls: TLSSocket = tlsConnect({
          ...o,
          host,
          port,
          socket,
          servername: o.servername ?? (isIp(host) ? undefined : host),
        });
        callback?.(null, tls);
      },
      (err: Error) => callback?.(err, undefined as unknown as Duplex),
    );
    return undefined;
  }
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':');
}
