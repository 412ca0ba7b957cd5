import { compareVersions, type ServerUpgradeItem, type SystemInfo } from '@corral/protocol';
import type { AuditLog } from '../audit/audit-log.js';
import type { AgentHub } from '../agents/agent-hub.js';
import type { ServersTable } from '../db/schema.js';
import { newId } from '../ids.js';
import type { ArtifactStore } from './artifact-store.js';

/** Who asked, for the audit log. */
export interface UpgradeActor {
  workspaceId: string;
  userId: string;
  email: string;
  sourceIp: string;
}

/**
 * Tells agents to move to the artifact this gateway serves for their platform. The agent does the rest
 * (download over the pinned CA, verify, swap, restart, roll back if the new version does not connect)
 * and reports `upgrade.result`, audited by the agent hub as agent.upgrade.completed / rolled_back / failed.
 */
export class UpgradeService {
  constructor(
    private readonly artifacts: ArtifactStore,
    private readonly agents: AgentHub,
    private readonly audit: AuditLog,
  ) {}

  /** Request an upgrade of one server; never throws for per-server conditions (they are outcomes). */
  async upgrade(server: ServersTable, actor: UpgradeActor, version?: string): Promise<ServerUpgradeItem> {
    const sys = server.system ? (JSON.parse(server.system) as SystemInfo) : null;
    const from = sys?.agentVersion ?? null;
    const platform = sys?.platform ?? null;
    const base = { server: server.name, fromVersion: from, platform };
    if (server.status !== 'online') {
      return {
        ...base,
        toVersion: null,
        outcome: 'offline',
        message: 'the agent is not connected; upgrade it when it is back',
      };
    }
    if (!platform) {
      return {
        ...base,
        toVersion: null,
        outcome: 'unsupported',
        message: 'this agent is too old to upgrade itself; install the new one with the install line (docs/install.md)',
      };
    }
    const artifact = this.artifacts.get(platform);
    if (!artifact || (version !== undefined && artifact.version !== version)) {
      return {
        ...base,
        toVersion: version ?? null,
        outcome: 'no_artifact',
        message: artifact
          ? `this gateway serves ${platform} ${artifact.version}, not ${version}`
          : `this gateway has no agent build for ${platform} (npm run build:agent on such a machine, then copy it to --artifacts)`,
      };
    }
    if (from !== null && compareVersions(from, artifact.version) >= 0 && version === undefined) {
      return { ...base, toVersion: artifact.version, outcome: 'up_to_date', message: `already at ${from}` };
    }
    const upgradeId = newId('upg');
    const sent = await this.agents.sendUpgrade(server.id, {
      type: 'upgrade',
      upgradeId,
      platform,
      version: artifact.version,
      path: artifact.path,
      sha256: artifact.sha256,
      size: artifact.size,
      signature: artifact.signature,
    });
    if (sent !== 'sent') {
      return {
        ...base,
        toVersion: artifact.version,
        outcome: sent,
        message:
          sent === 'offline'
            ? 'the agent is not connected; upgrade it when it is back'
            : 'this agent does not support upgrades; install the new one with the install line (docs/install.md)',
      };
    }
    await this.audit.append({
      workspaceId: actor.workspaceId,
      action: 'agent.upgrade.requested',
      actor: { type: 'user', id: actor.userId, name: actor.email },
      target: { type: 'server', id: server.id, name: server.name },
      sourceIp: actor.sourceIp,
      details: { upgradeId, fromVersion: from, toVersion: artifact.version, platform, sha256: artifact.sha256 },
    });
    return {
      ...base,
      toVersion: artifact.version,
      outcome: 'requested',
      upgradeId,
      message: `asked to upgrade from ${from ?? '?'} to ${artifact.version}; it reports back in the audit log (agent.upgrade.*)`,
    };
  }
}
