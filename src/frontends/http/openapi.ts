/**
 * /openapi.json, generated from the route declarations: the same zod schemas
 * whose JSON Schema validates each request, and those of the responses.
 * OpenAPI 3.1, whose schema dialect is JSON Schema 2020-12, zod's default.
 */
import * as z from 'zod';
import type { ApiRoute, ResponseDoc } from './api-route.js';
import { errorSchema } from './schemas.js';

export interface OpenApiOptions {
  version: string;
  /** Whether bearer tokens are configured (then every non-public operation needs one). */
  tokensRequired: boolean;
}

type Json = Record<string, unknown>;

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Json {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io });
  return rest;
}

/** Query and path parameters, one per property of the part's object schema. */
function parameters(schema: z.ZodType | undefined, where: 'query' | 'path'): Json[] {
  if (!schema) return [];
  const json = jsonSchema(schema, 'input') as { properties?: Record<string, Json>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, property]) => {
    const { description, ...rest } = property;
    return {
      name,
      in: where,
      required: where === 'path' || (json.required ?? []).includes(name),
      ...(typeof description === 'string' ? { description } : {}),
      schema: rest,
    };
  });
}

function response(doc: ResponseDoc, code: number): Json {
  const type = doc.contentType ?? 'application/json';
  const schema = doc.schema ?? (code >= 400 ? errorSchema : null);
  const json = schema ? jsonSchema(schema, 'output') : type === 'text/plain' ? { type: 'string' } : {};
  return { description: doc.description, content: { [type]: { schema: json } } };
}

const ERROR_RESPONSES: Record<number, string> = {
  400: 'Invalid request: the body names the field at fault.',
  401: 'Missing or wrong bearer token.',
  429: 'Rate limit reached; see the Retry-After header.',
};

/** The route's own responses, and the errors its access and schemas imply. */
function responses(r: ApiRoute, tokensRequired: boolean): Json {
  const docs: Record<number, ResponseDoc> = { ...r.responses };
  const implied: [number, boolean][] = [
    [400, Object.values(r.schemas).some(Boolean)],
    [401, r.access !== 'public' && tokensRequired],
    [429, r.access === 'verify'],
  ];
  for (const [code, applies] of implied)
    if (applies && !(code in docs)) docs[code] = { description: ERROR_RESPONSES[code] ?? '' };
  return Object.fromEntries(Object.entries(docs).map(([code, doc]) => [code, response(doc, Number(code))]));
}

function operationId(r: ApiRoute): string {
  const words = r.path.split(/[^A-Za-z0-9]+/).filter(Boolean);
  return [r.method.toLowerCase(), ...words.map((w) => w.slice(0, 1).toUpperCase() + w.slice(1))].join('');
}

function operation(r: ApiRoute, tokensRequired: boolean): Json {
  return {
    operationId: operationId(r),
    summary: r.summary,
    ...(r.description ? { description: r.description } : {}),
    tags: [r.tag],
    parameters: [...parameters(r.schemas.params, 'path'), ...parameters(r.schemas.querystring, 'query')],
    ...(r.schemas.body
      ? {
          requestBody: {
            required: true,
            content: { 'application/json': { schema: jsonSchema(r.schemas.body, 'input') } },
          },
        }
      : {}),
    responses: responses(r, tokensRequired),
    ...(r.access !== 'public' && tokensRequired ? { security: [{ bearer: [] }] } : {}),
  };
}

export function buildOpenApi(routes: readonly ApiRoute[], options: OpenApiOptions): Json {
  const paths: Record<string, Json> = {};
  for (const r of routes) {
    paths[r.path] = { ...paths[r.path], [r.method.toLowerCase()]: operation(r, options.tokensRequired) };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'cbv',
      version: options.version,
      description:
        'SMTP callback verification: verdicts, cache, statistics and recent activity. ' +
        (options.tokensRequired
          ? 'Every operation but /healthz, /readyz and /openapi.json needs a bearer token.'
          : 'No token is configured: the API is open, and listens on loopback only.'),
    },
    paths,
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
  };
}
