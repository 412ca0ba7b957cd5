import { mkdirSync } from 'node:fs';
import { createSecureContext, type SecureContext } from 'node:tls';
import { join } from 'node:path';
import { hostname } from 'node:os';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import { CloseCode } from '@corral/protocol';
import type { GatewayConfig } from './config.js';
import { clientHost } from './config.js';
import { ensureLocalTls, loadOperatorTls, type TlsMaterial } from './tls/local-ca.js';
import { openDatabase } from './db/open.js';
import { AuditLog } from './audit/audit-log.js';
import { AuthService, DEFAULT_AUTH_OPTIONS, SIGN_IN_WINDOW_MS, type AuthServiceOptions } from './auth/auth-service.js';
import { ApiTokens } from './auth/api-tokens.js';
import { registerTokenActivity, tokenGuard } from './auth/token-guard.js';
import { SignInGuard } from './auth/rate-limit.js';
import { MfaService } from './mfa/mfa-service.js';
import { OutboxPhoneSender, WebhookPhoneSender } from './mfa/sms.js';
import { ENROLLMENT_ROUTES } from './http/mfa-routes.js';
import { registerWebauthnPage } from './http/webauthn-page.js';
import { JoinTokens } from './servers/join-tokens.js';
import { ServerStore } from './servers/server-store.js';
import { GrantSigner } from './agents/grant-signer.js';
import { AgentHub } from './agents/agent-hub.js';
import { ChannelHub } from './channels/channel-hub.js';
import { WebshService } from './websh/websh-service.js';
import { ChannelForwarder } from './channels/channel-forwarder.js';
import { NodeRegistry } from './cluster/node-registry.js';
import { MemoryBus } from './bus/memory-bus.js';
import { NatsBus } from './bus/nats-bus.js';
import { Subjects, type Bus } from './bus/bus.js';
import { WorkspaceService } from './workspaces/workspace-service.js';
import { UserService } from './users/user-service.js';
import { OutboxMailer, SmtpMailer } from './users/mailer.js';
import { IamService } from './iam/iam-service.js';
import { WorkSessionService } from './work-sessions/work-session-service.js';
import { FilesService } from './files/files-service.js';
import { ExecService } from './exec/exec-service.js';
import { TunnelService } from './tunnels/tunnel-service.js';
import { Elevation } from './privilege/elevation.js';
import { RecordingService } from './recordings/recording-service.js';
import { SessionRisk } from './risk/session-risk.js';
import { MetricsService } from './metrics/metrics-service.js';
import { parseHost, workspaceUrl } from './workspaces/workspace-router.js';
import { ArtifactStore, loadOrCreateSigningKey } from './artifacts/artifact-store.js';
import { installCommand, registerArtifactRoutes } from './artifacts/artifact-routes.js';
import { UpgradeService } from './artifacts/upgrade-service.js';
import { SecretBox } from './auth/secret-box.js';
import { SsoStore } from './sso/sso-store.js';
import { SsoService } from './sso/sso-service.js';
import { DeviceAuth, DEFAULT_DEVICE_OPTIONS, type DeviceAuthOptions } from './sso/device-auth.js';
import { ssoPages } from './http/sso-pages.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The workspace named by the Host header (set for every /api/v1 route that needs one). */
    workspaceId: string;
  }
}

/** Routes that answer the same for every host (no workspace involved, or one found another way). */
const WORKSPACE_FREE = new Set(['/api/v1/health', '/api/v1/ca', '/api/v1/openapi.json', '/api/v1/agent/register']);
import { bootstrapDefaultWorkspace, findWorkspace, DEFAULT_ADMIN_EMAIL, DEFAULT_WORKSPACE } from './bootstrap.js';
import { CorralError } from './errors.js';
import { apiRoutes, GATEWAY_VERSION } from './http/api-routes.js';
import { registerRoutes } from './http/routes.js';
import { openApiDocument } from './http/openapi.js';
import { DEFAULT_WEB_DIR, registerWebUi } from './http/web-ui.js';
import { systemClock, type Clock } from './clock.js';
import { stderrLogger, type Logger } from './log.js';
import type { Services } from './services.js';
import type { Principal } from './auth/principal.js';
import { requestToken } from './auth/browser-session.js';

export interface BuildOptions {
  clock?: Clock;
  log?: Logger;
  /** First start only: the superuser to create (default admin@localhost with a generated password). */
  admin?: { email: string; password?: string };
  auth?: Partial<AuthServiceOptions>;
  /** TLS options for the SMTP connection (tests: a local server with a self-signed certificate). */
  smtpTls?: { rejectUnauthorized?: boolean };
  /** The built web UI to serve at `/` (default packages/web/dist; null: none, `/` says so). */
  webDir?: string | null;
  /** Device sign-in (`corral login --browser`) timing; tests shorten the poll interval. */
  device?: Partial<DeviceAuthOptions>;
}

export interface Gateway {
  app: FastifyInstance;
  services: Services;
  tls: TlsMaterial;
  /** Set when this start created the default workspace's superuser (password shown once). */
  createdAdmin: { email: string; password: string } | null;
  /** Listen, then return the URL clients should use. */
  listen(): Promise<string>;
  url: string | null;
  /** Stop in reverse start order: sockets, metrics buffer, channels, audit queue, HTTP, database. */
  close(): Promise<void>;
}

/** Assemble the gateway. Never listens by itself (fastify's buildApp idea); tests use inject(). */
export async function buildApp(config: GatewayConfig, opts: BuildOptions = {}): Promise<Gateway> {
  const clock = opts.clock ?? systemClock;
  const log = opts.log ?? stderrLogger();
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });

  const sans = ['localhost', '127.0.0.1', '::1', hostname(), ...config.extraSans];
  if (config.baseDomain) {
    sans.push(config.baseDomain, `${config.region}.${config.baseDomain}`, `*.${config.region}.${config.baseDomain}`);
  }
  if (!['0.0.0.0', '::', ''].includes(config.listenHost)) sans.push(config.listenHost);
  const tls = config.tls
    ? loadOperatorTls(config.tls.certFile, config.tls.keyFile)
    : await ensureLocalTls(join(config.dataDir, 'tls'), sans);

  const { db, dialect, close: closeDb } = await openDatabase(config.dbUrl);
  const audit = new AuditLog(db, dialect, clock);
  const created = await bootstrapDefaultWorkspace(db, audit, clock, opts.admin ?? { email: DEFAULT_ADMIN_EMAIL });
  const ws = await findWorkspace(db, DEFAULT_WORKSPACE);
  if (!ws) throw new Error('default workspace missing after bootstrap');

  const mailer = config.smtp
    ? new SmtpMailer(config.smtp.url, config.smtp.from, opts.smtpTls ?? {})
    : new OutboxMailer(db, clock);
  // Secrets the gateway reads back (SSO client secrets, TOTP secrets), encrypted under DATA/secret-box.key.
  const secretBox = SecretBox.loadOrCreate(join(config.dataDir, 'secret-box.key'));
  const authOptions = { ...DEFAULT_AUTH_OPTIONS, ...opts.auth };
  const guard = new SignInGuard({ ...authOptions, windowMs: SIGN_IN_WINDOW_MS }, clock);
  const mfa = new MfaService(
    db,
    audit,
    clock,
    secretBox,
    mailer,
    config.smsWebhook
      ? new WebhookPhoneSender(config.smsWebhook.url, config.smsWebhook.secret)
      : new OutboxPhoneSender(db, clock),
    guard,
    config.publicUrl,
  );
  const joinTokens = new JoinTokens(db, clock);
  const servers = new ServerStore(db, joinTokens, clock);
  await servers.markNodeOffline(config.nodeId);
  const signer = GrantSigner.loadOrCreate(join(config.dataDir, 'grant-signing.key'));
  const artifacts = new ArtifactStore(
    config.artifactDirs,
    loadOrCreateSigningKey(join(config.dataDir, 'artifact-signing.key')),
    log,
  );
  const bus: Bus = config.busUrl
    ? await NatsBus.connect(config.busUrl, `corral-gateway ${config.nodeId}`, log)
    : new MemoryBus();
  const nodes = new NodeRegistry(db, audit, clock, config.nodeId, log);
  let url: string | null = config.publicUrl;
  let nodeUrl: string | null = config.advertiseUrl ?? config.publicUrl;
  let loopbackUrl = `https://127.0.0.1:${config.listenPort}`;
  const metrics = new MetricsService(db, clock, log);
  metrics.start();
  const agents = new AgentHub({ servers, audit, clock, nodeId: config.nodeId, log, bus, metrics });
  const channels = new ChannelHub(agents, signer, clock, log, bus, () => nodeUrl, new ChannelForwarder(tls.caPem, log));
  const tokens = new ApiTokens(db, audit, channels, clock, log);
  const auth = new AuthService(db, audit, clock, authOptions, guard, mfa, tokens);
  const websh = new WebshService(db, audit, servers, channels, clock, log, join(config.dataDir, 'recordings'), {
    agents,
    bus,
    nodeId: config.nodeId,
  });
  const iam = new IamService(db, audit, bus, clock);
  const workSessions = new WorkSessionService({ db, audit, iam, channels, mailer, clock, log });
  const elevation = new Elevation(db, audit, auth, workSessions, clock);
  const recordings = new RecordingService(db, audit, clock, log);
  const risk = new SessionRisk(db, audit, channels, clock, log, config.riskAi, bus);
  websh.onCommand = (c) => {
    risk.check(c).catch((err: unknown) => log.error('risk check failed', { err: String(err) }));
  };
  // A live channel goes on only while its user may still open it and its work session still covers it
  // (checked when their access changes; expiry and revocation end channels directly).
  channels.recheck = async (spec) => {
    const u = await db
      .selectFrom('users')
      .select(['role', 'deactivated_at'])
      .where('id', '=', spec.userId)
      .executeTakeFirst();
    const server = await db.selectFrom('servers').selectAll().where('id', '=', spec.serverId).executeTakeFirst();
    const revoked = { code: 'ACCESS_REVOKED', reason: 'your access to this server was removed' };
    if (!u || u.deactivated_at || !server) return revoked;
    const p = { workspaceId: spec.workspaceId, userId: spec.userId, role: u.role } as Principal;
    const feature =
      spec.kind === 'files'
        ? (spec.filesPurpose ?? 'file_transfer')
        : spec.kind === 'tunnel'
          ? 'port_forward'
          : 'terminal';
    const action = spec.kind === 'files' ? 'files.use' : spec.kind === 'tunnel' ? 'tunnel.open' : 'websh.open';
    if (!(await iam.decide(p, action, server)).allow) return revoked;
    if (spec.workSessionId && !(await workSessions.stillCovers(spec.workSessionId, spec.serverId, feature))) {
      return { code: 'WORK_SESSION_ENDED', reason: `work session ${spec.workSessionId} no longer covers this server` };
    }
    return true;
  };

  const ssoStore = new SsoStore(db, audit, secretBox, clock);
  const sso = new SsoService(db, audit, auth, ssoStore, clock, (wsId, ids) => iam.accessChanged(wsId, ids));
  // "SSO required": password sign-in stays open to superusers only (break-glass).
  auth.passwordPolicy = async (workspaceId, role) =>
    role !== 'superuser' && (await ssoStore.ssoRequired(workspaceId))
      ? 'This workspace requires single sign-on: sign in with your identity provider (in the browser, or corral login --browser).'
      : null;

  const services: Services = {
    db,
    audit,
    auth,
    mfa,
    tokens,
    joinTokens,
    servers,
    signer,
    agents,
    channels,
    websh,
    log,
    bus,
    defaultWorkspaceId: ws.id,
    workspaces: new WorkspaceService(db, audit, clock),
    users: new UserService(db, audit, channels, mailer, clock, (wsId, ids) => iam.accessChanged(wsId, ids)),
    iam,
    workSessions,
    files: new FilesService(db, audit, channels, clock, log, {
      maxUploadBytes: config.maxUploadBytes,
      maxEditBytes: config.maxEditBytes,
    }),
    exec: new ExecService(db, audit, agents, signer, bus, iam, workSessions, clock, log, elevation),
    elevation,
    recordings,
    tunnels: new TunnelService(db, audit, channels, clock, log),
    loopbackUrl: () => loopbackUrl,
    caPem: tls.caPem,
    metrics,
    artifacts,
    upgrades: new UpgradeService(artifacts, agents, audit),
    sso,
    devices: new DeviceAuth(db, audit, auth, clock, { ...DEFAULT_DEVICE_OPTIONS, ...opts.device }),
    registerCommand: (token) =>
      `npx corral-agent register --gateway ${url ?? 'https://GATEWAY'} --token ${token} --ca-fingerprint ${tls.caFingerprint}`,
    installCommand: (token) => installCommand(url ?? 'https://GATEWAY', token, tls.caFingerprint),
  };

  // <workspace>.localhost gets its own certificate from the local CA, made on first use (SNI).
  const sniContexts = new Map<string, SecureContext>();
  const SNICallback = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void => {
    const name = servername.toLowerCase();
    if (!tls.issueFor || !/^[a-z0-9][a-z0-9-]{0,30}\.localhost$/.test(name)) return cb(null, undefined);
    const have = sniContexts.get(name);
    if (have) return cb(null, have);
    tls.issueFor(name).then(
      ({ keyPem, certPem }) => {
        const ctx = createSecureContext({ key: keyPem, cert: certPem, minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' });
        sniContexts.set(name, ctx);
        cb(null, ctx);
      },
      (err: Error) => cb(err),
    );
  };

  const app = Fastify({
    https: { key: tls.keyPem, cert: tls.certPem, minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', SNICallback },
    logger: false,
    bodyLimit: 1024 * 1024,
    trustProxy: false,
    return503OnClosing: true,
  });

  app.setErrorHandler((err, _req, reply) => {
    if (err instanceof CorralError) {
      for (const [k, v] of Object.entries(err.headers)) void reply.header(k, v);
      return reply
        .code(err.status)
        .send({ error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } });
    }
    const e = err as { code?: string; statusCode?: number; message: string };
    if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply
        .code(413)
        .send({ error: { code: 'PAYLOAD_TOO_LARGE', message: 'The request body is too large (1 MiB at most).' } });
    }
    if (e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return reply
        .code(415)
        .send({ error: { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Send JSON (Content-Type: application/json).' } });
    }
    if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) {
      return reply.code(400).send({ error: { code: 'VALIDATION_FAILED', message: e.message } });
    }
    log.error('request failed', { err: e.message });
    return reply.code(500).send({ error: { code: 'INTERNAL', message: 'Internal error.' } });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({ error: { code: 'NOT_FOUND', message: `No route ${req.method} ${req.url.split('?')[0]}.` } }),
  );

  const authenticate = async (req: FastifyRequest): Promise<Principal> => {
    const token = requestToken(req);
    const p = token ? await auth.authenticate(token) : null;
    // A token is valid only at its own workspace's host: another workspace never sees it as a principal.
    if (!p || p.workspaceId !== req.workspaceId) throw new CorralError('UNAUTHENTICATED');
    req.principal = p;
    // With MFA enforced, a session that has proved no factor reaches enrolment (and whoami, logout) only.
    if (p.enrollmentOnly && !ENROLLMENT_ROUTES.has(req.routeOptions.url ?? '')) {
      throw new CorralError('MFA_ENROLLMENT_REQUIRED');
    }
    return p;
  };

  // Which workspace a request is for comes from its Host header (<workspace>.<region>.<base-domain>,
  // <workspace>.localhost, or the default workspace for IPs and localhost).
  const workspaceCache = new Map<string, { id: string; region: string | null; at: number }>();
  const unsubscribeWorkspaces = bus.subscribe(Subjects.workspaceChanged, (data) => {
    workspaceCache.delete(String((data as { name?: string }).name ?? ''));
  });
  app.decorateRequest('workspaceId', '');
  app.addHook('onRequest', async (req) => {
    const path = req.url.split('?')[0] ?? '';
    if (
      !(path.startsWith('/api/v1/') || path.startsWith('/auth/')) ||
      WORKSPACE_FREE.has(path) ||
      path.startsWith('/api/v1/agent/artifacts')
    )
      return;
    const target = parseHost(req.headers.host, config.baseDomain);
    if (target.kind === 'default') {
      req.workspaceId = ws.id;
      return;
    }
    if (target.kind === 'unknown')
      throw new CorralError('WORKSPACE_NOT_FOUND', `No workspace is served at ${req.headers.host ?? '(no host)'}.`);
    let found = workspaceCache.get(target.name);
    if (!found || clock.now() - found.at > 10_000) {
      const row = await services.workspaces.findByName(target.name);
      if (!row || row.deletedAt) throw new CorralError('WORKSPACE_NOT_FOUND', `No workspace named "${target.name}".`);
      found = { id: row.id, region: row.region, at: clock.now() };
      workspaceCache.set(target.name, found);
    }
    const home = found.region ?? config.region;
    if (config.baseDomain && (home !== config.region || (target.region !== null && target.region !== home))) {
      const port = (req.headers.host ?? '').match(/:(\d+)$/)?.[1] ?? null;
      const where = workspaceUrl(target.name, home, config.baseDomain, port);
      throw new CorralError(
        'WORKSPACE_IN_OTHER_REGION',
        `Workspace "${target.name}" lives in region ${home}: use ${where}`,
        {
          details: { url: where, region: home },
          headers: { location: where },
        },
      );
    }
    req.workspaceId = found.id;
  });

  await app.register(multipart, {
    limits: { fileSize: config.maxUploadBytes, files: 1000, fields: 10, parts: 1010 },
  });
  const routes = apiRoutes(services);
  app.get('/api/v1/ca', async (_req, reply) => reply.type('application/x-pem-file').send(tls.caPem));
  const openapi = openApiDocument(routes, GATEWAY_VERSION);
  app.get('/api/v1/openapi.json', async () => openapi);
  registerTokenActivity(app, tokens);
  registerRoutes(app, routes, authenticate, tokenGuard(tokens));
  await app.register(ssoPages(services));
  registerArtifactRoutes(app, artifacts, () => url);
  registerWebauthnPage(app);
  registerWebUi(app, opts.webDir === undefined ? DEFAULT_WEB_DIR : opts.webDir);

  app.server.on('upgrade', (req, socket, head) => {
    const u = new URL(req.url ?? '/', 'https://gateway');
    if (u.pathname === '/api/v1/agent/connect') return agents.handleUpgrade(req, socket, head);
    const m = /^\/api\/v1\/channels\/([A-Za-z0-9_-]{1,64})$/.exec(u.pathname);
    if (m?.[1]) return channels.handleUpgrade(req, socket, head, m[1], u.searchParams.get('token') ?? '');
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });

  let closed = false;
  const gw: Gateway = {
    app,
    services,
    tls,
    createdAdmin: created ? { email: created.email, password: created.password } : null,
    url,
    async listen() {
      await app.listen({ host: config.listenHost, port: config.listenPort });
      const addr = app.server.address();
      const port = typeof addr === 'object' && addr ? addr.port : config.listenPort;
      url = config.publicUrl ?? `https://${clientHost(config.listenHost)}:${port}`;
      nodeUrl = config.advertiseUrl ?? `https://${clientHost(config.listenHost)}:${port}`;
      const lh = config.listenHost;
      loopbackUrl = `https://${lh === '::' || lh === '::1' ? '[::1]' : lh === '0.0.0.0' || lh === '' || lh === 'localhost' ? '127.0.0.1' : clientHost(lh)}:${port}`;
      gw.url = url;
      await nodes.start(nodeUrl);
      workSessions.start();
      recordings.start();
      return url;
    },
    async close() {
      if (closed) return;
      closed = true;
      workSessions.stop();
      recordings.stop();
      unsubscribeWorkspaces();
      await agents.close();
      await metrics.close();
      channels.close();
      await websh.close();
      await nodes.stop().catch(() => {});
      await audit.flush();
      await app.close();
      await bus.close();
      await closeDb();
    },
  };
  void CloseCode;
  return gw;
}
