/**
 * Every error answer is JSON of one shape ({error, message, field?}), with a
 * stable code. Validation failures name the field, so a client (or a person
 * with curl) sees what to fix; internal faults are logged and answered
 * without detail.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type {
  FastifyError,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  FastifySchemaValidationError,
} from 'fastify';
import { safeJson } from '../../core/index.js';
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

/** Fastify's router refusals (FST_ERR_BAD_URL, FST_ERR_MAX_PARAM_LENGTH, ...) in cbv's shape. */
export function frameworkError(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const status = error.statusCode && error.statusCode < 500 ? error.statusCode : 400;
  void reply.code(status).send({ error: 'invalid_request', message: error.message, field: 'url' });
}

/**
 * Requests Node's HTTP parser refuses before fastify sees them (malformed
 * request line or headers, headers too large, a request too slow to arrive):
 * answered in cbv's shape too, then the connection is closed, as Node does.
 */
export function clientError(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const status =
    error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const message =
    status === 431
      ? 'the request headers are too large'
      : status === 408
        ? 'the request did not arrive in time'
        : 'the request is not valid HTTP';
  const body = safeJson({ error: 'invalid_request', message, field: 'request' });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\n` +
        `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/** The methods a path is served with, for 405 and `Allow` (fastify itself answers 404). */
export type MethodsOf = (path: string) => string[];

export function installErrorHandlers(app: FastifyInstance, logger: Logger, methodsOf: MethodsOf): void {
  app.setErrorHandler((error: FastifyError | HttpProblem, request, reply) => {
    if (error instanceof HttpProblem) return reply.code(error.status).send(error.body());
    // Fleet mode: an administrator's request (fleet statistics, a purge) while Redis is away.
    if ((error as { code?: string }).code === 'CBV_ERR_REDIS_UNAVAILABLE')
      return reply.code(503).send({ error: 'redis_unavailable', message: error.message });
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
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '';
    const allowed = methodsOf(path);
    if (allowed.length > 0)
      return reply
        .code(405)
        .header('allow', allowed.join(', '))
        .send({
          error: 'method_not_allowed',
          message: `${request.method} is not served at ${path}; allowed: ${allowed.join(', ')}`,
        });
    return reply
      .code(404)
      .send({ error: 'not_found', message: `no such endpoint: ${request.method} ${path}` });
  });
}
