import { request, type RequestOptions } from 'node:https';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { ErrorBody } from '@corral/protocol';
import { proxyAgentFor, type ProxySettings } from './socket-factory.js';
import { AgentError, AgentErrorCode } from './errors.js';

/** Largest response body the agent reads from the gateway, in bytes. */
const MAX_BODY_BYTES = 256 * 1024;
/** Give up on a request after this long, in ms. */
const REQUEST_TIMEOUT_MS = 15_000;

/** How a request is secured. `insecure` skips certificate checks (only to fetch the CA to pin). */
export type TlsTrust = { insecure: true } | { caPem: string };

/** The two HTTP calls registration needs; injectable so registration is tested without a network. */
export interface GatewayHttp {
  /** GET a URL and return the body as text. */
  getText(url: string, trust: TlsTrust): Promise<string>;
  /** POST a JSON body and return the parsed JSON answer. */
  postJson(url: string, body: unknown, trust: TlsTrust): Promise<unknown>;
}

function describeGatewayError(status: number, text: string): AgentError {
  try {
    const parsed = ErrorBody.safeParse(JSON.parse(text));
    if (parsed.success) return new AgentError(parsed.data.error.code, parsed.data.error.message, status);
  } catch {
    /* not JSON */
  }
  const snippet = text.trim().slice(0, 200);
  return new AgentError(
    AgentErrorCode.GATEWAY_BAD_RESPONSE,
    `gateway answered HTTP ${status}${snippet ? `: ${snippet}` : ''}`,
    status,
  );
}

function send(
  url: string,
  method: 'GET' | 'POST',
  body: string | undefined,
  trust: TlsTrust,
  proxy: ProxySettings | undefined,
): Promise<{ status: number; text: string }> {
  const u = new URL(url);
  const agent = proxyAgentFor(url, proxy);
  const opts: RequestOptions = {
    ...(agent ? { agent } : {}),
    method,
    headers: {
      accept: 'application/json, application/x-pem-file, text/plain',
      ...(body !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {}),
    },
    // TLS 1.3 only, as everywhere in Corral.
    minVersion: 'TLSv1.3',
    ...('insecure' in trust ? { rejectUnauthorized: false } : { ca: trust.caPem, rejectUnauthorized: true }),
    timeout: REQUEST_TIMEOUT_MS,
  };
  return new Promise((resolve, reject) => {
    const req = request(u, opts, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY_BYTES) {
          req.destroy(new Error('response too large'));
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS / 1000} s`)));
    req.on('error', (err) =>
      reject(new AgentError(AgentErrorCode.GATEWAY_UNREACHABLE, `${method} ${u.origin}${u.pathname}: ${err.message}`)),
    );
    req.end(body);
  });
}

/** The real client: node:https with TLS 1.3 and either no verification or the pinned CA, through `proxy`. */
export function createGatewayHttp(proxy?: ProxySettings): GatewayHttp {
  return {
    async getText(url, trust) {
      const res = await send(url, 'GET', undefined, trust, proxy);
      if (res.status !== 200) throw describeGatewayError(res.status, res.text);
      return res.text;
    },
    async postJson(url, body, trust) {
      const res = await send(url, 'POST', JSON.stringify(body), trust, proxy);
      if (res.status < 200 || res.status > 299) throw describeGatewayError(res.status, res.text);
      try {
        return JSON.parse(res.text) as unknown;
      } catch {
        throw new AgentError(
          AgentErrorCode.GATEWAY_BAD_RESPONSE,
          `gateway answered HTTP ${res.status} with invalid JSON`,
          res.status,
        );
      }
    },
  };
}

/** The real client without a proxy. */
export const httpsGatewayHttp: GatewayHttp = createGatewayHttp();

/**
 * Download `url` (TLS 1.3, pinned CA, through the proxy) into `dest` (mode 0700), refusing more than
 * `maxBytes`. Returns the SHA-256 (hex) and size of what was written.
 * @throws AgentError GATEWAY_UNREACHABLE or GATEWAY_BAD_RESPONSE
 */
export function downloadFile(
  url: string,
  caPem: string,
  dest: string,
  maxBytes: number,
  proxy?: ProxySettings,
): Promise<{ sha256: string; size: number }> {
  const u = new URL(url);
  const agent = proxyAgentFor(url, proxy);
  return new Promise((resolve, reject) => {
    const req = request(
      u,
      {
        method: 'GET',
        ca: caPem,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.3',
        timeout: REQUEST_TIMEOUT_MS,
        ...(agent ? { agent } : {}),
      },
      (res) => {
        if (res.statusCode !== 200) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.length < 16 && chunks.push(c));
          res.on('end', () =>
            reject(describeGatewayError(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'))),
          );
          return;
        }
        const hash = createHash('sha256');
        let size = 0;
        const out = createWriteStream(dest, { mode: 0o700 });
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > maxBytes) {
            req.destroy(new Error(`download larger than the announced ${maxBytes} bytes`));
            return;
          }
          hash.update(c);
        });
        res.pipe(out);
        out.on('finish', () => resolve({ sha256: hash.digest('hex'), size }));
        out.on('error', reject);
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no data for ${REQUEST_TIMEOUT_MS / 1000} s`)));
    req.on('error', (err) =>
      reject(new AgentError(AgentErrorCode.GATEWAY_UNREACHABLE, `GET ${u.origin}${u.pathname}: ${err.message}`)),
    );
    req.end();
  });
}
