import { join, resolve } from 'node:path';
import { hostname } from 'node:os';

/** Everything the gateway needs, checked once at the edge and frozen (fastify's idea). */
export interface GatewayConfig {
  /** Data directory: database, TLS material, keys. */
  readonly dataDir: string;
  readonly listenHost: string;
  /** 0 picks a free port. */
  readonly listenPort: number;
  /** Operator-supplied certificate and key; null: local CA in dataDir. */
  readonly tls: { readonly certFile: string; readonly keyFile: string } | null;
  /** `sqlite:PATH` or `postgres://...`. */
  readonly dbUrl: string;
  /** This node's name (cluster-ready; one node by default). */
  readonly nodeId: string;
  /** Extra names for the local server certificate. */
  readonly extraSans: readonly string[];
  /** URL clients should use; default derived from the listen address. */
  readonly publicUrl: string | null;
  /** NATS URL for cluster mode; null: the in-process bus (one node). */
  readonly busUrl: string | null;
  /** URL other gateway nodes use to reach this one (channel forwarding); default: publicUrl. */
  readonly advertiseUrl: string | null;
  /** This deployment's region (e.g. us1, ap1); workspaces are served at <workspace>.<region>.<baseDomain>. */
  readonly region: string;
  /** Base domain for workspace host names; null: only <workspace>.localhost and the default workspace. */
  readonly baseDomain: string | null;
  /** SMTP server for mail (invitations); null: mail goes to the outbox (`corral-gateway outbox`). */
  readonly smtp: { readonly url: string; readonly from: string } | null;
  /** Largest file upload, in bytes (default 16 GiB). */
  readonly maxUploadBytes: number;
  /** AI risk analysis (an OpenAI-compatible endpoint), off unless configured. */
  readonly riskAi: { readonly baseUrl: string; readonly model: string; readonly apiKey?: string | undefined } | null;
  /** Largest file the code editor opens or saves, in bytes (default 2 MiB). */
  readonly maxEditBytes: number;
  /**
   * Directories holding agent artifacts (corral-agent-<platform> + .json manifest), first wins per
   * platform: --artifacts (default DATA/artifacts), then the repository's build output when present.
   */
  readonly artifactDirs: readonly string[];
  /** HTTP webhook for SMS/voice MFA codes (POST {to, message, channel}); null: the outbox. */
  readonly smsWebhook: { readonly url: string; readonly secret: string | null } | null;
}

export interface GatewayConfigInput {
  data?: string | undefined;
  listen?: string | undefined;
  tlsCert?: string | undefined;
  tlsKey?: string | undefined;
  db?: string | undefined;
  nodeId?: string | undefined;
  san?: string[] | undefined;
  publicUrl?: string | undefined;
  bus?: string | undefined;
  advertiseUrl?: string | undefined;
  region?: string | undefined;
  baseDomain?: string | undefined;
  smtpUrl?: string | undefined;
  smtpFrom?: string | undefined;
  /** "512M", "16G", or bytes. */
  maxUploadSize?: string | undefined;
  maxEditSize?: string | undefined;
  riskAiUrl?: string | undefined;
  riskAiModel?: string | undefined;
  riskAiKey?: string | undefined;
  artifacts?: string | undefined;
  /** The repository's `dist/artifacts` (npm run build:agent), added after --artifacts when it exists. */
  buildArtifacts?: string | undefined;
  smsWebhookUrl?: string | undefined;
  smsWebhookSecret?: string | undefined;
}

/** Parse a size like "16G", "512M", "2MiB" or a number of bytes. */
export function parseSize(flag: string, text: string): number {
  const m = /^(\d+)\s*(k|ki|kib|kb|m|mi|mib|mb|g|gi|gib|gb|t|ti|tib|tb)?$/i.exec(text.trim());
  if (!m) throw new Error(`${flag} must be a size like 512M or 16G (got "${text}")`);
  const unit = (m[2] ?? '').toLowerCase()[0] ?? '';
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[unit] ?? 1;
  return Number(m[1]) * mult;
}

/** Parse "HOST:PORT", "[v6]:PORT" or ":PORT". */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text.trim());
  if (!m) throw new Error(`--listen must be HOST:PORT (got "${text}")`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`--listen port out of range: ${port}`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

/** Check the input, fill defaults, name what is missing or wrong, and freeze. */
export function makeConfig(input: GatewayConfigInput): GatewayConfig {
  const dataDir = resolve(input.data ?? './.corral');
  const { host, port } = parseListen(input.listen ?? '127.0.0.1:8443');
  if (Boolean(input.tlsCert) !== Boolean(input.tlsKey)) {
    throw new Error('--tls-cert and --tls-key go together: give both or neither');
  }
  const dbUrl = input.db ?? `sqlite:${join(dataDir, 'corral.db')}`;
  if (!/^(postgres(ql)?:\/\/|sqlite:)/.test(dbUrl)) {
    throw new Error(`--db must be postgres://... or sqlite:PATH (got "${dbUrl}")`);
  }
  if (input.bus && !/^postgres/.test(dbUrl)) {
    throw new Error('--bus (cluster mode) needs a shared database: add --db postgres://...');
  }
  return Object.freeze({
    dataDir,
    listenHost: host,
    listenPort: port,
    tls:
      input.tlsCert && input.tlsKey
        ? Object.freeze({ certFile: resolve(input.tlsCert), keyFile: resolve(input.tlsKey) })
        : null,
    dbUrl,
    nodeId: input.nodeId ?? hostname(),
    extraSans: Object.freeze([...(input.san ?? [])]),
    publicUrl: input.publicUrl ?? null,
    busUrl: checkBus(input.bus),
    advertiseUrl: input.advertiseUrl ?? null,
    region: checkLabel('--region', input.region ?? 'local'),
    baseDomain: input.baseDomain ? checkDomain(input.baseDomain) : null,
    smtp: checkSmtp(input.smtpUrl, input.smtpFrom),
    maxUploadBytes: parseSize('--max-upload-size', input.maxUploadSize ?? '16G'),
    maxEditBytes: parseSize('--max-edit-size', input.maxEditSize ?? '2M'),
    riskAi: input.riskAiUrl
      ? Object.freeze({ baseUrl: input.riskAiUrl, model: input.riskAiModel ?? 'gpt-4o-mini', apiKey: input.riskAiKey })
      : null,
    artifactDirs: Object.freeze(
      [
        resolve(input.artifacts ?? join(dataDir, 'artifacts')),
        ...(input.buildArtifacts ? [resolve(input.buildArtifacts)] : []),
      ].filter((d, i, all) => all.indexOf(d) === i),
    ),
    smsWebhook: checkWebhook(input.smsWebhookUrl, input.smsWebhookSecret),
  });
}

function checkLabel(flag: string, v: string): string {
  if (!/^[a-z0-9][a-z0-9-]{0,30}$/.test(v)) throw new Error(`${flag} must be a DNS label like us1 (got "${v}")`);
  return v;
}

function checkDomain(v: string): string {
  const d = v.toLowerCase().replace(/\.$/, '');
  if (!/^([a-z0-9][a-z0-9-]{0,62}\.)+[a-z0-9][a-z0-9-]{0,62}$/.test(d)) {
    throw new Error(`--base-domain must be a domain name like example.com (got "${v}")`);
  }
  return d;
}

function checkSmtp(url: string | undefined, from: string | undefined): { url: string; from: string } | null {
  if (!url) return null;
  if (!/^smtps?:\/\/[^/]+/.test(url))
    throw new Error(
      `--smtp-url must be smtp://[user:pass@]host:port or smtps://... (got "${url.replace(/\/\/[^@/]*@/, '//***@')}")`,
    );
  return Object.freeze({ url, from: from ?? 'Corral <corral@localhost>' });
}

function checkWebhook(
  url: string | undefined,
  secret: string | undefined,
): { url: string; secret: string | null } | null {
  if (!url) return null;
  if (!/^https?:\/\/[^/]+/.test(url)) throw new Error(`--sms-webhook-url must be an http(s):// URL (got "${url}")`);
  return Object.freeze({ url, secret: secret || null });
}

function checkBus(url: string | undefined): string | null {
  if (!url) return null;
  if (!/^nats:\/\/[^/]+$/.test(url)) throw new Error(`--bus must be nats://HOST:PORT (got "${url}")`);
  return url;
}

/** The host name clients should use for a listen host. */
export function clientHost(listenHost: string): string {
  if (listenHost === '0.0.0.0' || listenHost === '::' || listenHost === '') return 'localhost';
  return listenHost.includes(':') ? `[${listenHost}]` : listenHost;
}
