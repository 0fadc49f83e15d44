// createApp: the HTTP surface in lifecycle order (parsers -> cors -> auth -> routes), one error path.
// Fastify's lifecycle: https://fastify.dev/docs/latest/Reference/Lifecycle/
import Fastify, { LogController } from 'fastify';
import type { FastifyBaseLogger, FastifyReply, FastifyServerOptions } from 'fastify';
import cors from '@fastify/cors';
import type { Config } from './config.ts';
import { errors, ProxyError } from './errors.ts';
import { createAuthHook } from './http/auth.ts';
import { createClientErrorHandler } from './http/client-error.ts';
import { cleanLabel } from './calls/clean-label.ts';
import './http/request-info.ts';
import type { UpstreamClient } from './upstream/openrouter-client.ts';
import { llmEndpoints } from './routes/llm-endpoints.ts';
import type { CallRecorder } from './routes/llm-endpoints.ts';
import { rootRoute } from './routes/root.ts';
import { healthRoute } from './routes/health.ts';
import { modelsRoute } from './routes/models.ts';

export interface AppDeps {
  config: Config;
  upstream: UpstreamClient;
  recorder: CallRecorder;
  /** Trace delivery state for /health. */
  deliveryState: () => unknown;
  /** Extra routes (the trace viewer and its API), registered behind auth at the root only. */
  extraRoutes?: (app: ReturnType<typeof Fastify>) => Promise<void>;
  logger?: FastifyServerOptions['logger'] | FastifyBaseLogger;
  version?: string;
  now?: () => number;
}

export const routePrefixes = ['', '/v1', '/api/v1'];
const publicPaths = new Set(['/', ...routePrefixes.filter(Boolean).flatMap((prefix) => [prefix, `${prefix}/`])]);

export async function createApp(deps: AppDeps) {
  const { config } = deps;
  const now = deps.now ?? (() => performance.timeOrigin + performance.now());
  const isLogger = typeof deps.logger === 'object' && deps.logger !== null && 'child' in deps.logger;
  const app = Fastify({
    ...(isLogger ? { loggerInstance: deps.logger as FastifyBaseLogger } : { logger: (deps.logger as FastifyServerOptions['logger']) ?? false }),
    bodyLimit: config.bodyLimitBytes,
    // Without a Host header Node answers 400 with no body; the hook below answers it OpenAI-shaped instead.
    http: { maxHeaderSize: config.maxHeaderBytes, requireHostHeader: false },
    clientErrorHandler: createClientErrorHandler(config.maxHeaderBytes),
    // A path Fastify cannot decode (bad percent-encoding): our error, not Fastify's own body.
    frameworkErrors: (error, request, reply) => {
      const failure = error.code === 'FST_ERR_BAD_URL' ? errors.badUrl(cleanLabel(request.url, 200) ?? '') : errors.malformedRequest();
      void (reply as FastifyReply).code(failure.status).send(failure.toJSON());
    },
    // One log line per request, written by our onResponse hook below (with model, session, trace id).
    logController: new LogController({ disableRequestLogging: true }),
    // While draining, requests on connections that are still open get our OpenAI-shaped 503 (hook below),
    // not Fastify's own body; Fastify still marks those responses `Connection: close`.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true },
  });

  // Bodies stay raw bytes: the LLM routes forward them untouched and parse them once themselves.
  // Any content type is accepted, because curl -d without a header sends form-encoded JSON.
  app.removeAllContentTypeParsers();
  // A compressed body is refused with 415 (RFC 9110) rather than read as broken JSON.
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (request, body, done) => {
    const encoding = request.headers['content-encoding']?.trim().toLowerCase();
    if (encoding && encoding !== 'identity') done(errors.unsupportedEncoding(cleanLabel(encoding, 40) ?? ''), undefined);
    else done(null, body);
  });

  let closing = false;
  // Fastify closes the connections that are idle when the drain starts. One whose call is still running becomes
  // idle when that call ends, and a kept-alive client would then hold it, and the shutdown, open until it times
  // out (72 s): while draining, idle connections are closed as they appear.
  let idleSweep: NodeJS.Timeout | undefined;
  app.addHook('preClose', async () => {
    closing = true;
    idleSweep = setInterval(() => app.server.closeIdleConnections(), 50).unref();
  });
  app.addHook('onClose', async () => clearInterval(idleSweep));
  // Callback style: no promise per request on the hot path.
  app.addHook('onRequest', (request, _reply, done) => {
    if (closing) done(errors.shuttingDown());
    else if (request.headers.host === undefined && request.raw.httpVersionMajor === 1 && request.raw.httpVersionMinor >= 1) done(errors.missingHost());
    else done();
  });

  await app.register(cors, {
    origin: config.corsOrigins === '*' ? '*' : config.corsOrigins,
    exposedHeaders: ['x-trace-id', 'x-generation-id', 'retry-after', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'],
    maxAge: 600,
    // An OPTIONS request that is not a full preflight gets the same 204 instead of the plugin's text/plain 400.
    strictPreflight: false,
  });

  app.addHook('onRequest', createAuthHook({
    apiKeys: config.apiKeys,
    isPublic: (path) => publicPaths.has(path) || path === '/ui' || path.startsWith('/ui/'),
    failures: config.authFailures,
  }));

  app.addHook('onResponse', async (request, reply) => {
    const info = request.callInfo;
    request.log.info({
      method: request.method,
      path: request.url.split('?', 1)[0],
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10,
      ...(info && { model: info.model, stream: info.stream, session: info.sessionId, traceId: info.traceId, outcome: info.outcome }),
    }, 'request');
  });

  app.setErrorHandler(async (error, request, reply) => {
    let failure: ProxyError;
    if (error instanceof ProxyError) failure = error;
    else if ((error as { code?: string }).code === 'FST_ERR_CTP_BODY_TOO_LARGE') failure = errors.bodyTooLarge(config.bodyLimitBytes);
    else if ((error as { statusCode?: number }).statusCode !== undefined && (error as { statusCode: number }).statusCode < 500) {
      failure = new ProxyError((error as { statusCode: number }).statusCode, 'invalid_request', (error as Error).message);
    } else {
      request.log.error({ err: error }, 'unexpected error');
      failure = errors.internal();
    }
    return reply.code(failure.status).headers(failure.headers).send(failure.toJSON());
  });
  app.setNotFoundHandler(async (request) => {
    throw errors.notFound(request.method, request.url.split('?', 1)[0] ?? '/');
  });

  const version = deps.version ?? '0.0.0';
  const startedAt = Date.now();
  const running = new Set<() => void>();
  for (const prefix of routePrefixes) {
    await app.register(async (scope) => {
      await scope.register(rootRoute(config, version));
      await scope.register(healthRoute(config, startedAt, deps.deliveryState));
      await scope.register(modelsRoute(config, deps.upstream));
      await scope.register(llmEndpoints({ config, upstream: deps.upstream, recorder: deps.recorder, now, running }));
    }, { prefix });
  }
  if (deps.extraRoutes) await app.register(deps.extraRoutes);
  app.decorate('endRunningCalls', () => {
    const count = running.size;
    for (const end of [...running]) end();
    return count;
  });
  return app;
}

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * Ends every LLM call still running (a shutdown whose drain ran out): each client gets the OpenAI-shaped
     * `shutting_down` error (an SSE error event on a stream), each trace the outcome `shutdown`. Returns how many.
     */
    endRunningCalls(): number;
  }
}
