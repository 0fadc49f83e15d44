// GET /models: OpenRouter's list, unchanged (`{data: [...]}`; n8n reads only `data[].id`).
import type { FastifyInstance } from 'fastify';
import { errors } from '../errors.ts';
import type { UpstreamClient } from '../upstream/openrouter-client.ts';
import { forwardableHeaders } from '../upstream/response-headers.ts';
import { classifyUpstreamFailure } from '../upstream/upstream-failure.ts';
import type { Config } from '../config.ts';

export function modelsRoute(config: Config, upstream: UpstreamClient) {
  return async function routes(app: FastifyInstance) {
    app.get('/models', async (request, reply) => {
      if (!upstream.configured) throw errors.missingUpstreamKey();
      const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?')) : '';
      const controller = new AbortController();
      const onClose = () => controller.abort();
      reply.raw.once('close', onClose);
      try {
        const response = await upstream.request({ method: 'GET', path: `/models${query}`, signal: controller.signal });
        const payload = Buffer.from(await response.body.arrayBuffer());
        return reply.code(response.statusCode).headers(forwardableHeaders(response.headers)).send(payload);
      } catch (cause) {
        throw classifyUpstreamFailure(cause, { clientGone: controller.signal.aborted, tooLong: false, headersReceived: false }, config).error;
      } finally {
        reply.raw.off('close', onClose);
      }
    });
  };
}
