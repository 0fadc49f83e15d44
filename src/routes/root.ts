// GET /: public service info. Says which integrations are configured, never with what.
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.ts';

export function rootRoute(config: Config, version: string) {
  return async function routes(app: FastifyInstance) {
    app.get('/', async () => ({
      name: 'llm-trace-gateway',
      version,
      description: 'OpenAI-compatible gateway to OpenRouter with Langfuse tracing',
      endpoints: {
        chat: 'POST /chat/completions',
        responses: 'POST /responses',
        completions: 'POST /completions',
        embeddings: 'POST /embeddings',
        models: 'GET /models',
        health: 'GET /health',
        viewer: 'GET /ui',
        traces: 'GET /api/traces',
      },
      prefixes: ['/', '/v1', '/api/v1'],
      auth: 'x-api-key header or Authorization: Bearer',
      integrations: {
        openrouter: Boolean(config.openrouter.apiKey),
        langfuse: Boolean(config.langfuse),
      },
    }));
  };
}
