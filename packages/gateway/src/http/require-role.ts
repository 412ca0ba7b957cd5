import type { FastifyRequest } from 'fastify';
import type { Role } from '@corral/protocol';
import type { Services } from '../services.js';
import { roleAtLeast, type Principal } from '../auth/principal.js';
import { CorralError } from '../errors.js';

/** Deny unless the principal's role is at least `min`; every denial is audited. */
export async function requireRole(
  s: Services,
  p: Principal,
  min: Role,
  action: string,
  req: FastifyRequest,
): Promise<void> {
  if (roleAtLeast(p.role, min)) return;
  await s.audit.append({
    workspaceId: p.workspaceId,
    action: 'access.denied',
    outcome: 'denied',
    actor: { type: 'user', id: p.userId, name: p.email },
    sourceIp: req.ip,
    details: { attempted: action, required: min, role: p.role },
  });
  throw new CorralError('FORBIDDEN', `${action} needs the ${min} role or higher.`);
}
