import { z } from 'zod';
import { ErrorBody, PROTOCOL_VERSION } from '@corral/protocol';
import type { AnyRoute } from './routes.js';
import { ERRORS } from '../errors.js';

function jsonSchema(s: z.ZodType): unknown {
  return z.toJSONSchema(s, { unrepresentable: 'any', io: 'input' });
}

/** OpenAPI 3.1 document generated from the route specs (their zod schemas). */
export function openApiDocument(routes: AnyRoute[], version: string): unknown {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = r.url.replace(/:(\w+)/g, '{$1}');
    const params = [...r.url.matchAll(/:(\w+)/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    // Query parameters from the route's query schema (a zod object), e.g. ?range=1h|24h|7d.
    if (r.query instanceof z.ZodObject) {
      for (const [name, schema] of Object.entries(r.query.shape as Record<string, z.ZodType>)) {
        const { $schema: _dialect, ...json } = jsonSchema(schema) as { $schema?: string; type: string };
        params.push({ name, in: 'query', required: !schema.safeParse(undefined).success, schema: json });
      }
    }
    const responses: Record<string, unknown> = {
      [String(r.status ?? 200)]:
        r.status === 204 || !r.response
          ? { description: 'Done' }
          : { description: 'OK', content: { 'application/json': { schema: jsonSchema(r.response) } } },
    };
    for (const code of r.errors ?? []) {
      const e = ERRORS[code as keyof typeof ERRORS];
      if (!e) continue;
      responses[String(e.status)] = {
        description: `${code}: ${e.message}`,
        content: { 'application/json': { schema: jsonSchema(ErrorBody) } },
      };
    }
    if (r.auth !== false) {
      responses['401'] = {
        description: 'UNAUTHENTICATED',
        content: { 'application/json': { schema: jsonSchema(ErrorBody) } },
      };
    }
    (paths[path] ??= {})[r.method.toLowerCase()] = {
      summary: r.summary,
      tags: [r.tag],
      ...(params.length ? { parameters: params } : {}),
      ...(r.body
        ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(r.body) } } } }
        : {}),
      ...(r.auth === false ? { security: [] } : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Corral gateway API',
      version,
      description: `JSON API of the Corral gateway (wire protocol ${PROTOCOL_VERSION}). Errors are {"error":{"code","message"}}.`,
    },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths,
  };
}
