import type { Kysely } from 'kysely';
import { workspaceSettings } from '../workspaces/workspace-service.js';
import type { Database, ServersTable } from '../db/schema.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { AuthService } from '../auth/auth-service.js';
import type { Principal } from '../auth/principal.js';
import type { WorkSessionService } from '../work-sessions/work-session-service.js';
import type { Clock } from '../clock.js';
import { CorralError } from '../errors.js';

/** Default grace after a step-up during which root needs no new proof. */
export const DEFAULT_STEP_UP_GRACE_SECONDS = 300;

export interface WorkspacePrivilegeSettings {
  /** `explicit` (default): elevation when root is asked for (-u root, --root); `always`: also when root is the default. */
  rootElevation?: 'explicit' | 'always';
  stepUpGraceSeconds?: number;
}

/**
 * Privilege elevation: a root terminal or command needs the `privilege_elevation` feature in a covering
 * work session (by default approved by someone else, even for superusers) AND a fresh step-up (the
 * password again, within the grace window). Each elevation is audited as `privilege.elevate`.
 */
export class Elevation {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly audit: AuditLog,
    private readonly auth: AuthService,
    private readonly workSessions: WorkSessionService,
    private readonly clock: Clock,
  ) {}

  async settings(workspaceId: string): Promise<Required<WorkspacePrivilegeSettings>> {
    const s = await workspaceSettings<WorkspacePrivilegeSettings>(this.db, workspaceId);
    return {
      rootElevation: s.rootElevation ?? 'explicit',
      stepUpGraceSeconds: s.stepUpGraceSeconds ?? DEFAULT_STEP_UP_GRACE_SECONDS,
    };
  }

  /** Does opening as `osUser` need elevation? */
  async needed(p: Principal, osUser: string, explicit: boolean): Promise<boolean> {
    if (osUser !== 'root') return false;
    if (explicit) return true;
    return (await this.settings(p.workspaceId)).rootElevation === 'always';
  }

  /** Enforce (and audit) elevation for `via` on `server`; returns the covering work session id. */
  async require(
    p: Principal,
    server: ServersTable,
    via: 'terminal' | 'exec' | 'file_transfer',
    sourceIp: string,
    workSessionId?: string,
  ): Promise<string> {
    const ws = await this.workSessions.cover(p, server, 'privilege_elevation', workSessionId, sourceIp);
    const { stepUpGraceSeconds } = await this.settings(p.workspaceId);
    const at = await this.auth.steppedUpAt(p);
    if (at === null || this.clock.now() - at > stepUpGraceSeconds * 1000) {
      await this.audit.append({
        workspaceId: p.workspaceId,
        action: 'access.denied',
        outcome: 'denied',
        actor: { type: 'user', id: p.userId, name: p.email },
        target: { type: 'server', id: server.id, name: server.name },
        sourceIp,
        details: { attempted: 'privilege.elevate', reason: 'no step-up within the grace window' },
      });
      throw new CorralError(
        'STEP_UP_REQUIRED',
        `Root on ${server.name} needs a fresh proof that it is you: run \`corral step-up\` (valid ${Math.round(stepUpGraceSeconds / 60)} min), then try again.`,
      );
    }
    await this.audit.append({
      workspaceId: p.workspaceId,
      action: 'privilege.elevate',
      actor: { type: 'user', id: p.userId, name: p.email },
      target: { type: 'server', id: server.id, name: server.name },
      sourceIp,
      details: { osUser: 'root', via, workSessionId: ws.id, steppedUpAt: new Date(at).toISOString() },
    });
    return ws.id;
  }
}
