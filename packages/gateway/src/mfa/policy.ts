import type { Kysely } from 'kysely';
import { MfaFactorKind, type StepUpAction } from '@corral/protocol';
import type { Database } from '../db/schema.js';
import { workspaceSettings } from '../workspaces/workspace-service.js';
import { DEFAULT_STEP_UP_GRACE_SECONDS } from '../privilege/elevation.js';

/** A workspace's MFA rules, with defaults filled in. */
export interface MfaPolicy {
  /** Users without a factor get sessions that can only enrol one. Default false. */
  enforced: boolean;
  /** Factor kinds users may enrol and use. Default all. */
  methods: MfaFactorKind[];
  /** Actions that need a fresh step-up; privilege elevation always does. */
  stepUpActions: StepUpAction[];
  /** How long a step-up lasts, seconds (default 300). */
  graceSeconds: number;
}

interface MfaSettings {
  mfaEnforced?: boolean;
  mfaMethods?: MfaFactorKind[];
  stepUpActions?: StepUpAction[];
  stepUpGraceSeconds?: number;
}

/** Read the policy from the workspace settings (`corral mfa policy set`, `PATCH /api/v1/workspace`). */
export async function mfaPolicy(db: Kysely<Database>, workspaceId: string): Promise<MfaPolicy> {
  return policyFromSettings(await workspaceSettings<MfaSettings>(db, workspaceId));
}

export function policyFromSettings(s: Partial<MfaSettings>): MfaPolicy {
  const actions = new Set<StepUpAction>(s.stepUpActions ?? []);
  actions.add('privilege_elevation');
  return {
    enforced: s.mfaEnforced === true,
    methods: s.mfaMethods?.length ? [...s.mfaMethods] : [...MfaFactorKind.options],
    stepUpActions: [...actions],
    graceSeconds: s.stepUpGraceSeconds ?? DEFAULT_STEP_UP_GRACE_SECONDS,
  };
}
