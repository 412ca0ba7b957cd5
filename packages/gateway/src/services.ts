import type { Kysely } from 'kysely';
import type { Database } from './db/schema.js';
import type { AuditLog } from './audit/audit-log.js';
import type { AuthService } from './auth/auth-service.js';
import type { MfaService } from './mfa/mfa-service.js';
import type { JoinTokens } from './servers/join-tokens.js';
import type { ServerStore } from './servers/server-store.js';
import type { GrantSigner } from './agents/grant-signer.js';
import type { AgentHub } from './agents/agent-hub.js';
import type { ChannelHub } from './channels/channel-hub.js';
import type { WebshService } from './websh/websh-service.js';
import type { Logger } from './log.js';
import type { Bus } from './bus/bus.js';
import type { WorkspaceService } from './workspaces/workspace-service.js';
import type { UserService } from './users/user-service.js';
import type { IamService } from './iam/iam-service.js';
import type { WorkSessionService } from './work-sessions/work-session-service.js';
import type { FilesService } from './files/files-service.js';
import type { ExecService } from './exec/exec-service.js';
import type { TunnelService } from './tunnels/tunnel-service.js';
import type { Elevation } from './privilege/elevation.js';
import type { RecordingService } from './recordings/recording-service.js';
import type { MetricsService } from './metrics/metrics-service.js';
import type { ArtifactStore } from './artifacts/artifact-store.js';
import type { UpgradeService } from './artifacts/upgrade-service.js';
import type { ApiTokens } from './auth/api-tokens.js';
import type { SsoService } from './sso/sso-service.js';
import type { DeviceAuth } from './sso/device-auth.js';

/** The gateway's services, wired once in buildApp and handed to route handlers. */
export interface Services {
  db: Kysely<Database>;
  audit: AuditLog;
  auth: AuthService;
  mfa: MfaService;
  /** API tokens, applications and service tokens. */
  tokens: ApiTokens;
  joinTokens: JoinTokens;
  servers: ServerStore;
  signer: GrantSigner;
  agents: AgentHub;
  channels: ChannelHub;
  websh: WebshService;
  log: Logger;
  bus: Bus;
  defaultWorkspaceId: string;
  workspaces: WorkspaceService;
  users: UserService;
  iam: IamService;
  workSessions: WorkSessionService;
  files: FilesService;
  exec: ExecService;
  tunnels: TunnelService;
  elevation: Elevation;
  recordings: RecordingService;
  /** This node's own HTTPS address on loopback (the browser file API connects to its channels here). */
  loopbackUrl(): string;
  /** The CA that signs this node's certificate (PEM). */
  caPem: string;
  metrics: MetricsService;
  /** Agent executables served for install and upgrade. */
  artifacts: ArtifactStore;
  /** Agent upgrades on request. */
  upgrades: UpgradeService;
  /** Single sign-on (OIDC, SAML) and its configuration. */
  sso: SsoService;
  /** Device authorizations (`corral login --browser`). */
  devices: DeviceAuth;
  /** The ready-to-paste agent registration line for a join token. */
  registerCommand(token: string): string;
  /** The ready-to-paste one-line install (install.sh over the pinned CA) for a join token. */
  installCommand(token: string): string;
}
