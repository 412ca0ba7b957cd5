import type { Kysely } from 'kysely';
import { workspaceSettings } from '../workspaces/workspace-service.js';
import type { Database } from '../db/schema.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { ChannelHub } from '../channels/channel-hub.js';
import type { Principal } from '../auth/principal.js';
import type { Logger } from '../log.js';
import type { Clock } from '../clock.js';
import { RuleAnalyzer } from './rules.js';
import { Subjects, type Bus } from '../bus/bus.js';
import { CombinedAnalyzer, OpenAiCompatibleAnalyzer } from './ai-analyzer.js';
import { DEFAULT_RISK_THRESHOLD, type RiskAnalyzer } from './analyzer.js';

/** The workspace's risk settings (superusers): threshold, what happens at it, own rules, a webhook. */
export interface RiskSettings {
  riskThreshold?: number;
  riskAction?: 'alert' | 'terminate';
  riskRules?: unknown[];
  riskWebhookUrl?: string;
}

export interface AiRiskConfig {
  baseUrl: string;
  model: string;
  apiKey?: string | undefined;
}

/**
 * Scores every command a session runs (risk/*.ts) and acts at the workspace threshold: a `session.risk`
 * audit event, a webhook POST when set, and, if the workspace says so, the session ends with the reason.
 */
export class SessionRisk {
  readonly #cache = new Map<string, { at: number; analyzer: RiskAnalyzer; settings: RiskSettings }>();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly audit: AuditLog,
    private readonly channels: ChannelHub,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly ai: AiRiskConfig | null,
    bus: Bus,
  ) {
    // A settings change on any node applies at once.
    bus.subscribe(Subjects.workspaceChanged, (data) => {
      const id = (data as { id?: string }).id;
      if (id) this.#cache.delete(id);
    });
  }

  async #forWorkspace(workspaceId: string): Promise<{ analyzer: RiskAnalyzer; settings: RiskSettings }> {
    const hit = this.#cache.get(workspaceId);
    if (hit && this.clock.now() - hit.at < 10_000) return hit;
    const settings = await workspaceSettings<RiskSettings>(this.db, workspaceId);
    let rules: RuleAnalyzer;
    try {
      rules = new RuleAnalyzer({ rules: settings.riskRules ?? [] });
    } catch (err) {
      this.log.warn('workspace risk rules rejected; built-in rules only', { err: String(err) });
      rules = new RuleAnalyzer();
    }
    const analyzer = this.ai
      ? new CombinedAnalyzer(
          rules,
          new OpenAiCompatibleAnalyzer(
            {
              baseUrl: this.ai.baseUrl,
              model: this.ai.model,
              ...(this.ai.apiKey ? { apiKey: this.ai.apiKey } : {}),
              onError: (err) => this.log.warn('AI risk analysis failed; rules decided', { err: err.message }),
            },
            rules,
          ),
        )
      : rules;
    const entry = { at: this.clock.now(), analyzer, settings };
    this.#cache.set(workspaceId, entry);
    return entry;
  }

  async check(c: {
    p: Principal;
    server: { id: string; name: string };
    sessionId: string;
    osUser: string;
    command: string;
    sourceIp: string;
  }): Promise<void> {
    const { analyzer, settings } = await this.#forWorkspace(c.p.workspaceId);
    const v = await analyzer.analyze(c.command, { osUser: c.osUser, server: c.server.name });
    const threshold = settings.riskThreshold ?? DEFAULT_RISK_THRESHOLD;
    if (v.score < threshold) return;
    const terminate = settings.riskAction === 'terminate';
    await this.audit.append({
      workspaceId: c.p.workspaceId,
      action: 'session.risk',
      outcome: 'denied',
      actor: { type: 'user', id: c.p.userId, name: c.p.email },
      target: { type: 'server', id: c.server.id, name: c.server.name },
      sourceIp: c.sourceIp,
      details: {
        sessionId: c.sessionId,
        command: c.command,
        score: v.score,
        category: v.category,
        reason: v.reason,
        rule: v.rule,
        source: v.source,
        threshold,
        action: terminate ? 'terminated' : 'alerted',
      },
    });
    if (settings.riskWebhookUrl) {
      fetch(settings.riskWebhookUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'corral-gateway' },
        body: JSON.stringify({
          event: 'session.risk',
          user: c.p.email,
          server: c.server.name,
          sessionId: c.sessionId,
          command: c.command,
          score: v.score,
          category: v.category,
          reason: v.reason,
        }),
        signal: AbortSignal.timeout(5000),
      }).then(
        (res) => void res.body?.cancel(),
        (err: unknown) => this.log.warn('risk webhook failed', { err: String(err) }),
      );
    }
    if (terminate) {
      this.channels.terminate({
        workspaceId: c.p.workspaceId,
        sessionId: c.sessionId,
        code: 'SESSION_RISK',
        reason: `session ended: "${c.command.slice(0, 80)}" scored ${v.score} (${v.category}: ${v.reason})`,
      });
    }
  }
}
