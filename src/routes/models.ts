// GET /models: OpenRouter's list, unchanged (`{data: [...]}`; n8n reads only `data[].id`).
import type { FastifyInstance } from 'fastify';
import { errors } from '../errors.ts';
import type { UpstreamClient } from '../upstream/openrouter-client.ts';
import { backoffHeaders, forwardableHeaders, headerValue } from '../upstream/response-headers.ts';
import { classifyUpstreamFailure, unreadableAnswer } from '../upstream/upstream-failure.ts';
import type { Config } from '../config.ts';
import { configuredSecrets } from '../redact.ts';

export function modelsRoute(config: Config, upstream: UpstreamClient) {
  return async function routes(app: FastifyInstance) {
    app.get('/models', async (request, reply) => {
      if (!upstream.configured) throw errors.missingUpstreamKey();
      const query = request.url.includes('?') ? withoutKeys(request.url.slice(request.url.indexOf('?') + 1), configuredSecrets(config, { generated: true })) : '';
      const controller = new AbortController();
      const onClose = () => controller.abort();
      reply.raw.once('close', onClose);
      let response;
      let payload: Buffer;
      try {
        response = await upstream.request({ method: 'GET', path: `/models${query}`, signal: controller.signal });
        payload = upstream.withoutKey(await response.body.bytes());
      } catch (cause) {
        throw classifyUpstreamFailure(cause, { clientGone: controller.signal.aborted, tooLong: false, headersReceived: false }, config).error;
      } finally {
        reply.raw.off('close', onClose);
      }
      // A JSON answer passes unchanged; anything else (an HTML error page) becomes an OpenAI-shaped error.
      const contentType = headerValue(response.headers, 'content-type') ?? '';
      if (!/json/i.test(contentType) && !isJson(payload)) throw unreadableAnswer(response.statusCode, contentType, payload, backoffHeaders(response.headers));
      return reply.code(response.statusCode).headers(forwardableHeaders(response.headers)).send(payload);
    });
  };
}

/**
 * The client's query string for OpenRouter (its filters), without a parameter that carries one of our keys (a
 * key put in the URL by mistake, next to a valid one in a header, must not travel on).
 */
function withoutKeys(query: string, keys: readonly string[]): string {
  const params = [...new URLSearchParams(query)];
  const kept = params.filter(([, value]) => !keys.some((key) => value.includes(key)));
  if (kept.length === params.length) return query ? `?${query}` : '';
  return kept.length > 0 ? `?${new URLSearchParams(kept).toString()}` : '';
}

function isJson(payload: Buffer): boolean {
  try {
    JSON.parse(payload.toString('utf8'));
    return true;
  } catch {
    return false;
  }
}
