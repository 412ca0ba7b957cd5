import { z } from 'zod';
import { GROUP_NAME_RE, Role } from './api.js';

/**
 * Work sessions: time-bound, scoped, approved access (the "Access control" and "Sessions" concepts).
 * A user asks for some features on some servers for a while, with a reason; the workspace's approval
 * policy decides who must approve; channels open only under an approved, unexpired work session.
 */

export const FEATURES = [
  'terminal',
  'file_transfer',
  'exec',
  'code_editor',
  'port_forward',
  'privilege_elevation',
] as const;
export const Feature = z.enum(FEATURES);
export type Feature = z.infer<typeof Feature>;

export const WORK_SESSION_STATUSES = [
  'pending',
  'approved',
  'denied',
  'cancelled',
  'active',
  'expired',
  'revoked',
  'completed',
] as const;
export const WorkSessionStatus = z.enum(WORK_SESSION_STATUSES);
export type WorkSessionStatus = z.infer<typeof WorkSessionStatus>;

/** Server selectors, as for grants: name, glob, group:NAME, tag:KEY=VALUE (several allowed). */
const Selectors = z.array(z.string().min(1).max(200)).min(1).max(32);
/** Seconds: one minute to 30 days. */
const DurationSeconds = z
  .number()
  .int()
  .min(60)
  .max(30 * 86400);

/**
 * Command patterns for exec under a work session: `*` matches anything, `?` one character, matched
 * against the whole command line (words joined by spaces). Deny wins; a non-empty allow list admits only
 * what it matches.
 */
export const CommandAcl = z.strictObject({
  allow: z.array(z.string().min(1).max(500)).max(100).optional(),
  deny: z.array(z.string().min(1).max(500)).max(100).optional(),
});
export type CommandAcl = z.infer<typeof CommandAcl>;

export const WorkSessionRequest = z.strictObject({
  servers: Selectors,
  features: z.array(Feature).min(1).max(FEATURES.length),
  durationSeconds: DurationSeconds,
  reason: z.string().trim().min(1, 'give a reason').max(1000),
  /** Limits exec under this work session. */
  commands: CommandAcl.optional(),
});
export type WorkSessionRequest = z.infer<typeof WorkSessionRequest>;

export const WorkSessionApproveRequest = z.strictObject({
  /** Shorten the duration (never lengthen). */
  durationSeconds: DurationSeconds.optional(),
  /** Narrow the servers: only servers both these selectors and the request cover stay. */
  servers: Selectors.optional(),
  /** Narrow the features to this subset. */
  features: z.array(Feature).min(1).max(FEATURES.length).optional(),
  comment: z.string().max(1000).optional(),
});
export const WorkSessionReasonRequest = z.strictObject({ reason: z.string().max(1000).optional() });
export const WorkSessionExtendRequest = z.strictObject({
  durationSeconds: DurationSeconds,
  reason: z.string().trim().min(1).max(1000).optional(),
});

export const WorkSessionView = z.object({
  id: z.string(),
  user: z.string(),
  status: WorkSessionStatus,
  /** The selectors as requested (or as narrowed by an approver). */
  selectors: z.array(z.string()),
  /** The servers covered, resolved when the request was made (and narrowed on approval). */
  servers: z.array(z.string()),
  features: z.array(Feature),
  reason: z.string(),
  durationSeconds: z.number(),
  /** Policy rule that decided, and what it asks for. */
  rule: z.string(),
  approvalsRequired: z.number(),
  approvals: z.array(z.object({ by: z.string(), at: z.string() })),
  approvers: z.object({ roles: z.array(Role), groups: z.array(z.string()) }),
  createdAt: z.string(),
  approvedAt: z.string().nullable(),
  activatedAt: z.string().nullable(),
  expiresAt: z.string().nullable(),
  endedAt: z.string().nullable(),
  endReason: z.string().nullable(),
  /** An extension waiting for approval. */
  extension: z
    .object({ durationSeconds: z.number(), reason: z.string().nullable(), requestedAt: z.string() })
    .nullable(),
  /** Whether the caller may approve or deny it now. */
  canApprove: z.boolean(),
  commands: CommandAcl.nullable(),
});
export type WorkSessionView = z.infer<typeof WorkSessionView>;
export const WorkSessionList = z.object({ items: z.array(WorkSessionView) });

export const TimelineEntry = z.object({
  at: z.string(),
  /** `requested`, `approval`, `approved`, `denied`, `cancelled`, `activated`, `extension.requested`,
   * `extended`, `extension.denied`, `expired`, `revoked`, `completed`, or `channel` for a use. */
  kind: z.string(),
  actor: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
});
export type TimelineEntry = z.infer<typeof TimelineEntry>;
export const WorkSessionTimeline = z.object({ workSession: WorkSessionView, entries: z.array(TimelineEntry) });

// --- approval policy ---------------------------------------------------------------------------------

export const PolicyAction = z.enum(['auto_approve', 'require_approval', 'deny']);
const RULE_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$/;
const Who = z.strictObject({
  roles: z.array(Role).max(3).optional(),
  groups: z.array(z.string().regex(GROUP_NAME_RE)).max(64).optional(),
});

export const PolicyRule = z
  .strictObject({
    name: z.string().regex(RULE_NAME_RE),
    /** Servers the rule is about (selectors); absent: every server. */
    servers: z.array(z.string().min(1).max(200)).max(32).optional(),
    /** Features the rule is about; absent: every feature. */
    features: z.array(Feature).min(1).max(FEATURES.length).optional(),
    /** Whose requests; absent: everybody's. */
    requester: Who.optional(),
    action: PolicyAction,
    /** require_approval: how many distinct approvers (default 1). */
    approvals: z.number().int().min(1).max(10).optional(),
    /** require_approval: who may approve (default staff and superusers). */
    approvers: Who.optional(),
    /** Longest duration this rule allows, in seconds (default 8 h). */
    maxDurationSeconds: DurationSeconds.optional(),
  })
  .refine((r) => r.action !== 'require_approval' || !r.approvers || r.approvers.roles || r.approvers.groups, {
    message: 'approvers needs roles or groups',
  });
export type PolicyRule = z.infer<typeof PolicyRule>;

export const ApprovalPolicy = z.strictObject({
  rules: z
    .array(PolicyRule)
    .max(200)
    .refine((rules) => new Set(rules.map((r) => r.name)).size === rules.length, {
      message: 'rule names must be unique',
    }),
  /** POSTed a JSON notice for every request that waits for approval. */
  webhookUrl: z
    .string()
    .url()
    .max(2000)
    .refine((u) => /^https?:\/\//.test(u), { message: 'http or https URL' })
    .nullable()
    .optional(),
});
export type ApprovalPolicy = z.infer<typeof ApprovalPolicy>;
export const ApprovalPolicyView = ApprovalPolicy.extend({
  isDefault: z.boolean(),
  updatedAt: z.string().nullable(),
  updatedBy: z.string().nullable(),
});
export type ApprovalPolicyView = z.infer<typeof ApprovalPolicyView>;

/** Members need one staff or superuser approval; staff and superusers are auto-approved, except
 * privilege elevation, which always needs someone else. */
export const DEFAULT_APPROVAL_POLICY: ApprovalPolicy = {
  rules: [
    {
      name: 'privilege-elevation-needs-approval',
      features: ['privilege_elevation'],
      action: 'require_approval',
      approvals: 1,
      approvers: { roles: ['staff', 'superuser'] },
      maxDurationSeconds: 4 * 3600,
    },
    {
      name: 'staff-auto-approved',
      requester: { roles: ['staff', 'superuser'] },
      action: 'auto_approve',
      maxDurationSeconds: 12 * 3600,
    },
    {
      name: 'members-need-approval',
      requester: { roles: ['member'] },
      action: 'require_approval',
      approvals: 1,
      approvers: { roles: ['staff', 'superuser'] },
      maxDurationSeconds: 8 * 3600,
    },
  ],
  webhookUrl: null,
};
