/**
 * Request validation with Ajv (fastify's own validator), in two flavours: the
 * query string and path parameters are text by nature, so "50" may become 50
 * and "true" true; a JSON body carries its own types, so [7] stays a number
 * and fails a list of strings, rather than becoming "7" as fastify's single
 * shared, coercing instance would make it.
 */
import { Ajv } from 'ajv';
import type { FastifyInstance } from 'fastify';

// removeAdditional: false, so an unknown field is an error that names it (as in the config file),
// never silently dropped.
const common = { useDefaults: true, removeAdditional: false, allErrors: false } as const;

export function installValidators(app: FastifyInstance): void {
  const text = new Ajv({ ...common, coerceTypes: 'array' });
  const json = new Ajv({ ...common, coerceTypes: false });
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? json : text).compile(schema));
}
