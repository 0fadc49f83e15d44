// GET /models: OpenRouter's list, unchanged (`{data: [...]}`; n8n reads only `data[].id`).
import type { FastifyInstance } from 'fastify';
import { errors } from '../errors.ts';
import type { UpstreamClient } from '../upstream/openrouter-client.ts';
import { backoffHeaders, forwardableHeaders, headerValue } from '../upstream/response-headers.ts';
import { classifyUpstreamFailure, unreadableAnswer } from '../upstream/upstream-failure.ts';
import type { Config } from '../config.ts';

export function modelsRoute(config: Config, upstream: UpstreamClient) {
  return async function routes(app: FastifyInstance) {
    app.get('/models', async (request, reply) => {
      if (!upstream.configured) throw errors.missingUpstreamKey();
      const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?')) : '';
      const controller = new AbortController();
      const onClose = () => controller.abort();
      reply.raw.once('close', onClose);
      let response;
      let payload: Buffer;
      try {
        response = await upstream.request({ method: 'GET', path: `/models${query}`, signal: controller.signal });
        payload = upstream.withoutKey(Buffer.from(await response.body.arrayBuffer()));
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

function isJson(payload: Buffer): boolean {
  try {
    JSON.parse(payload.toString('utf8'));
    return true;
  } catch {
    return false;
  }
}
