// The local trace viewer: the page at /ui and the JSON API behind it, both read from the journal.
import type { FastifyInstance } from 'fastify';
import type { Journal } from '../traces/journal.ts';
import { loadViewerAssets } from './viewer-assets.ts';
import { traceApi } from './trace-api.ts';
import { viewerPage } from './viewer-page.ts';

export function viewerRoutes(deps: { journal: Pick<Journal, 'list' | 'getJson'>; deliveryState: () => unknown; assetsDir?: URL }) {
  const assets = loadViewerAssets(deps.assetsDir);
  return async function routes(app: FastifyInstance) {
    await app.register(viewerPage(assets));
    await app.register(traceApi(deps));
  };
}
