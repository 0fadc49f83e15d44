// GET /health: liveness plus what an operator needs at a glance: upstream configured, trace delivery state.
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.ts';

export function healthRoute(config: Config, startedAt: number, deliveryState: () => unknown) {
  return async function routes(app: FastifyInstance) {
    app.get('/health', async () => ({
      status: 'ok',
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
      upstream: { configured: Boolean(config.openrouter.apiKey), baseUrl: config.openrouter.baseUrl },
      traces: deliveryState(),
    }));
  };
}
