import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { CorralError } from '../errors.js';
import type { Principal } from '../auth/principal.js';
import { requestContext } from '../auth/request-context.js';

/** A route described once: fastify registers it, OpenAPI documents it, zod validates it. */
export interface RouteSpec<B extends z.ZodType | undefined, R extends z.ZodType | undefined> {
  method: 'GET' | 'POST' | 'DELETE' | 'PATCH' | 'PUT';
  url: string;
  summary: string;
  tag: string;
  /** Require a signed-in principal (default true). */
  auth?: boolean;
  body?: B;
  query?: z.ZodType;
  response?: R;
  /** Success status; default 200. */
  status?: number;
  /** Extra error codes this route can answer with, for the docs. */
  errors?: string[];
  /** Largest body, in bytes, when the default 1 MiB is not right. */
  bodyLimit?: number;
  handler: (ctx: {
    req: FastifyRequest;
    reply: FastifyReply;
    body: B extends z.ZodType ? z.infer<B> : undefined;
    query: Record<string, unknown>;
    params: Record<string, string>;
    principal: Principal;
  }) => Promise<R extends z.ZodType ? z.infer<R> : unknown>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyRoute = RouteSpec<any, any>;

/** Identity helper that keeps the spec's types. */
export function route<B extends z.ZodType | undefined, R extends z.ZodType | undefined>(
  spec: RouteSpec<B, R>,
): RouteSpec<B, R> {
  return spec;
}

function zodMessage(err: z.ZodError): string {
  return err.issues
    .slice(0, 5)
    .map((i) => {
      const path = i.path.join('.') || '(body)';
      return i.code === 'unrecognized_keys'
        ? `${path}: unknown field(s) ${i.keys.join(', ')}`
        : `${path}: ${i.message}`;
    })
    .join('; ');
}

/** Parse `value` with `schema`, turning a failure into 400 VALIDATION_FAILED with the first issues. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const r = schema.safeParse(value);
  if (!r.success)
    throw new CorralError('VALIDATION_FAILED', zodMessage(r.error), { details: r.error.issues.slice(0, 10) });
  return r.data;
}

/**
 * Register routes on fastify. `authenticate` resolves the bearer token or throws UNAUTHENTICATED;
 * `guard` (API token scopes, auth/token-scopes.ts) may refuse an authenticated call before its handler.
 * Handlers run inside the request context (auth/request-context.ts) holding the principal.
 */
export function registerRoutes(
  app: FastifyInstance,
  routes: AnyRoute[],
  authenticate: (req: FastifyRequest) => Promise<Principal>,
  guard: (r: AnyRoute, principal: Principal, req: FastifyRequest) => Promise<void> = async () => {},
): void {
  for (const r of routes) {
    app.route({
      method: r.method,
      url: r.url,
      ...(r.bodyLimit ? { bodyLimit: r.bodyLimit } : {}),
      handler: async (req, reply) => {
        if (r.auth === false) return handle(r, req, reply, undefined as unknown as Principal);
        const principal = await authenticate(req);
        return requestContext.run({ principal }, async () => {
          await guard(r, principal, req);
          return handle(r, req, reply, principal);
        });
      },
    });
  }
}

async function handle(r: AnyRoute, req: FastifyRequest, reply: FastifyReply, principal: Principal): Promise<unknown> {
  const body = r.body ? parseOrThrow(r.body, req.body ?? {}) : undefined;
  const query = r.query ? (parseOrThrow(r.query, req.query ?? {}) as Record<string, unknown>) : {};
  const result = await r.handler({
    req,
    reply,
    body,
    query,
    params: (req.params ?? {}) as Record<string, string>,
    principal,
  });
  if (reply.sent) return reply;
  reply.code(r.status ?? 200);
  if (r.status === 204) return reply.send();
  return result;
}
