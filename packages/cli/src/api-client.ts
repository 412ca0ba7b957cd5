import { localhostLookup } from './localhost-lookup.js';
import { Agent, request as httpsRequest, type AgentOptions } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { ApiError, CliError, NetworkError } from './errors.js';

/**
 * A small JSON client for the gateway's HTTP API over node:https: TLS 1.3 only, verified against the
 * pinned CA (normal host-name checks), one keep-alive agent so that a later request or the websh
 * WebSocket upgrade can reuse the connection. Error answers become ApiError (`CODE: message`).
 * No zod here: callers pass a `parse` function (a zod schema's parse, or a hand check on hot paths).
 */

/** Default limit for one request, in ms. */
export const DEFAULT_TIMEOUT_MS = 30_000;

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface RawRequest {
  method: string;
  url: URL;
  headers?: Record<string, string>;
  body?: string | Buffer;
  agent?: Agent;
  /** TLS options when no agent is given. */
  tls?: AgentOptions;
  timeoutMs?: number;
  /** Called once the request has been handed to the socket, i.e. while the answer is awaited. */
  onSent?: () => void;
}

/** One HTTPS request, body read in full. Network and TLS failures become NetworkError with a hint. */
export function rawRequest(req: RawRequest): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const r = httpsRequest(
      req.url,
      {
        method: req.method,
        headers: req.headers,
        ...(req.agent ? { agent: req.agent } : { agent: false, ...req.tls }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', (err) => reject(networkError(err, req.url)));
      },
    );
    r.setTimeout(req.timeoutMs ?? DEFAULT_TIMEOUT_MS, () => {
      r.destroy(Object.assign(new Error('request timed out'), { code: 'ETIMEDOUT' }));
    });
    r.on('error', (err) => reject(networkError(err, req.url)));
    if (req.onSent) r.once('finish', req.onSent);
    r.end(req.body);
  });
}

const TLS_VERIFY_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
]);

/** Explain a socket/TLS failure in one line, with what to try next. */
export function networkError(err: unknown, url: URL): NetworkError {
  const e = err as NodeJS.ErrnoException;
  const where = url.origin;
  const code = e?.code ?? '';
  let msg: string;
  if (code === 'ECONNREFUSED') msg = `cannot reach the gateway at ${where}: connection refused (is it running?)`;
  else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') msg = `cannot resolve ${url.hostname}: check the gateway URL`;
  else if (code === 'ETIMEDOUT') msg = `the gateway at ${where} did not answer in time`;
  else if (code === 'ECONNRESET') msg = `the gateway at ${where} closed the connection`;
  else if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    msg = `the gateway's certificate is not valid for "${url.hostname}" (${e.message}): use the host name the certificate was issued for`;
  } else if (code === 'CERT_HAS_EXPIRED') {
    msg = `the gateway's certificate has expired: ask its operator to renew it`;
  } else if (TLS_VERIFY_CODES.has(code)) {
    msg =
      `TLS verification of ${where} failed (${e.message}): its certificate is not signed by the pinned CA. ` +
      `If the gateway's CA was replaced on purpose, check the new fingerprint with its operator and run \`corral login ${where}\` again`;
  } else if (/PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL/.test(code)) {
    msg = `the gateway at ${where} does not speak TLS 1.3`;
  } else if (/wrong version number|packet length too long/i.test(e?.message ?? '')) {
    msg = `${where} did not answer with TLS: is it an https:// URL of a Corral gateway?`;
  } else {
    msg = `request to ${where} failed: ${e?.message ?? String(err)}`;
  }
  return new NetworkError(msg, err);
}

/** Turn a non-2xx answer into an ApiError, reading `{"error":{code,message}}` when present. */
export function errorFromResponse(res: RawResponse): ApiError {
  const retryHeader = res.headers['retry-after'];
  const retry = typeof retryHeader === 'string' && /^\d+$/.test(retryHeader) ? Number(retryHeader) : undefined;
  try {
    const parsed = JSON.parse(res.body.toString('utf8')) as { error?: { code?: unknown; message?: unknown } };
    const { code, message } = parsed.error ?? {};
    if (typeof code === 'string' && typeof message === 'string') return new ApiError(res.status, code, message, retry);
  } catch {
    // not JSON: fall through
  }
  const text = res.body.toString('utf8').trim().slice(0, 200);
  return new ApiError(
    res.status,
    `HTTP_${res.status}`,
    text || 'the gateway answered with an error and no details',
    retry,
  );
}

export interface ApiClientOptions {
  /** Gateway base URL, e.g. https://gw.example.com:8443 */
  baseUrl: string;
  /** The pinned CA, PEM. */
  caPem: string;
  /** Session token sent as `Authorization: Bearer`. */
  token?: string | null;
  /** Per-request limit in ms (default 30 s). */
  timeoutMs?: number;
  /**
   * Called when the gateway answers 403 STEP_UP_REQUIRED: prove it is you again (e.g. ask for a code on
   * the terminal and POST /auth/step-up); resolve true to have the request sent once more.
   */
  onStepUpRequired?: (err: ApiError) => Promise<boolean>;
}

/** Sent with every request, so that `corral signins ls` can tell sessions apart. */
export const USER_AGENT = `corral-cli (${process.platform}-${process.arch}; node ${process.versions.node})`;

export interface RequestOptions<T> {
  /** JSON body. */
  body?: unknown;
  /** Check and type the JSON answer; throws on mismatch. */
  parse?: (value: unknown) => T;
  /** Query parameters; undefined values are left out. */
  query?: Record<string, string | number | undefined>;
  /** Called once the request is on its way (to use the wait for the answer). Must not throw. */
  onSent?: () => void;
}

/** TLS settings every verified connection uses. */
export function tlsOptions(caPem: string): AgentOptions {
  return { ca: caPem, minVersion: 'TLSv1.3', lookup: localhostLookup as AgentOptions['lookup'] };
}

export class ApiClient {
  /** Keep-alive agent shared by all requests (and by the websh WebSocket upgrade). */
  readonly agent: Agent;
  readonly baseUrl: string;
  private readonly token: string | null;
  private readonly timeoutMs: number;
  private readonly onStepUpRequired: ((err: ApiError) => Promise<boolean>) | undefined;
  private steppingUp = false;

  constructor(opts: ApiClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.token = opts.token ?? null;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.onStepUpRequired = opts.onStepUpRequired;
    this.agent = new Agent({ ...tlsOptions(opts.caPem), keepAlive: true, maxSockets: 4 });
  }

  /** Absolute URL for an API path such as `/api/v1/servers`. */
  url(path: string, query?: RequestOptions<unknown>['query']): URL {
    const u = new URL(this.baseUrl + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, String(v));
    return u;
  }

  /**
   * Send one request. Resolves with the parsed JSON (undefined for 204 or an empty body);
   * rejects with ApiError (gateway said no), NetworkError (could not talk to it) or CliError (odd answer).
   */
  async request<T = unknown>(method: string, path: string, opts: RequestOptions<T> = {}): Promise<T> {
    try {
      return await this.requestOnce(method, path, opts);
    } catch (err) {
      // A fresh step-up, then the same request once more (never while a step-up is itself in progress).
      if (!(err instanceof ApiError) || err.code !== 'STEP_UP_REQUIRED' || !this.onStepUpRequired || this.steppingUp)
        throw err;
      this.steppingUp = true;
      let again: boolean;
      try {
        again = await this.onStepUpRequired(err);
      } finally {
        this.steppingUp = false;
      }
      if (!again) throw err;
      return this.requestOnce(method, path, opts);
    }
  }

  private async requestOnce<T>(method: string, path: string, opts: RequestOptions<T>): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': USER_AGENT };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let body: string | undefined;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['content-type'] = 'application/json';
    }
    const res = await rawRequest({
      method,
      url: this.url(path, opts.query),
      headers,
      ...(body !== undefined ? { body } : {}),
      agent: this.agent,
      timeoutMs: this.timeoutMs,
      ...(opts.onSent ? { onSent: opts.onSent } : {}),
    });
    if (res.status < 200 || res.status >= 300) throw errorFromResponse(res);
    if (res.status === 204 || res.body.length === 0) return undefined as T;
    let json: unknown;
    try {
      json = JSON.parse(res.body.toString('utf8'));
    } catch {
      throw new CliError(
        `the gateway sent a non-JSON answer to ${method} ${path}: is ${this.baseUrl} a Corral gateway?`,
      );
    }
    if (!opts.parse) return json as T;
    try {
      return opts.parse(json);
    } catch (err) {
      throw new CliError(
        `the gateway sent an unexpected answer to ${method} ${path} (${summarizeParseError(err)}): ` +
          'the CLI and gateway versions may not match',
      );
    }
  }

  /**
   * Send a request whose answer is a stream of JSON lines (NDJSON); `onLine` gets each parsed line as it
   * arrives. Resolves when the stream ends. A non-2xx answer rejects like request() does. `signal` aborts.
   */
  streamLines(
    method: string,
    path: string,
    body: unknown,
    onLine: (value: unknown) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    const headers: Record<string, string> = {
      accept: 'application/x-ndjson',
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
    };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    const payload = JSON.stringify(body);
    const url = this.url(path);
    return new Promise((resolve, reject) => {
      const r = httpsRequest(url, { method, headers, agent: this.agent, ...(signal ? { signal } : {}) }, (res) => {
        const status = res.statusCode ?? 0;
        if (status < 200 || status >= 300) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => reject(errorFromResponse({ status, headers: res.headers, body: Buffer.concat(chunks) })));
          return;
        }
        let rest = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          rest += d;
          let i: number;
          while ((i = rest.indexOf('\n')) >= 0) {
            const line = rest.slice(0, i);
            rest = rest.slice(i + 1);
            if (line.trim()) onLine(JSON.parse(line));
          }
        });
        res.on('end', () => resolve());
        res.on('error', (err) => reject(networkError(err, url)));
      });
      r.on('error', (err) => reject(networkError(err, url)));
      r.end(payload);
    });
  }

  /** Close idle keep-alive connections so the process can exit. */
  close(): void {
    this.agent.destroy();
  }
}

function summarizeParseError(err: unknown): string {
  const issues = (err as { issues?: { path: (string | number)[]; message: string }[] }).issues;
  const first = issues?.[0];
  if (first) return `${first.path.join('.') || '(root)'}: ${first.message}`;
  return (err as Error).message ?? String(err);
}
