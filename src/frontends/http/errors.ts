/**
 * Every error answer is JSON of one shape ({error, message, field?}), with a
 * stable code. Validation failures name the field, so a client (or a person
 * with curl) sees what to fix; internal faults are logged and answered
 * without detail.
 */
import type { FastifyError, FastifyInstance, FastifySchemaValidationError } from 'fastify';
import { EVENTS } from '../../observability/events.js';
import { logEvent, type Logger } from '../../observability/logger.js';

export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }

  body(): { error: string; message: string; field?: string } {
    return { error: this.code, message: this.message, ...(this.field ? { field: this.field } : {}) };
  }
}

export const invalid = (field: string, message: string): HttpProblem =>
  new HttpProblem(400, 'invalid_request', message, field);

export const notFound = (message: string): HttpProblem => new HttpProblem(404, 'not_found', message);

/** '/addresses/3' + missing 'x' -> 'addresses.3.x'; the request part when there is no path. */
function fieldOf(error: FastifySchemaValidationError, part: string): string {
  const segments = error.instancePath.split('/').filter(Boolean);
  const extra = error.params.missingProperty ?? error.params.additionalProperty;
  if (typeof extra === 'string') segments.push(extra);
  return segments.length > 0 ? segments.join('.') : part;
}

function describe(error: FastifySchemaValidationError, field: string, part: string): string {
  switch (error.keyword) {
    case 'required':
      return `${part}: '${field}' is required`;
    case 'additionalProperties':
      return `${part}: '${field}' is not a known field`;
    default:
      return `${part}: '${field}' ${error.message ?? 'is invalid'}`;
  }
}

/** Fastify's schemaErrorFormatter: the first failure, as a 400 that names the field. */
export function validationProblem(errors: FastifySchemaValidationError[], part: string): HttpProblem {
  const first = errors[0];
  if (!first) return invalid(part, `${part} is invalid`);
  const field = fieldOf(first, part);
  return invalid(field, describe(first, field, part));
}

export function installErrorHandlers(app: FastifyInstance, logger: Logger): void {
  app.setErrorHandler((error: FastifyError | HttpProblem, request, reply) => {
    if (error instanceof HttpProblem) return reply.code(error.status).send(error.body());
    const status = error.statusCode ?? 500;
    if (status < 500) {
      // Fastify's own refusals: malformed JSON, wrong content type, body too large.
      const field = error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 'content-type' : 'body';
      return reply.code(status).send({ error: 'invalid_request', message: error.message, field });
    }
    logEvent(logger, 'error', EVENTS.internalError, {
      err: error,
      route: request.routeOptions.url,
      reqId: request.id,
    });
    return reply.code(500).send({ error: 'internal', message: 'internal error; see the daemon log' });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({
      error: 'not_found',
      message: `no such endpoint: ${request.method} ${request.url.split('?')[0] ?? ''}`,
    }),
  );
}
