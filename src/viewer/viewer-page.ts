// GET /ui (the page) and GET /ui/<file> (its scripts and styles): public, since the page itself
// holds no data; every byte of trace data comes from the authenticated /api/traces.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ProxyError } from '../errors.ts';
import type { ViewerAsset } from './viewer-assets.ts';

// Nothing inline and nothing from elsewhere: the page works offline and injected markup cannot run.
export const contentSecurityPolicy =
  "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

export function viewerPage(assets: Map<string, ViewerAsset>) {
  function send(request: FastifyRequest, reply: FastifyReply, asset: ViewerAsset) {
    reply.headers({
      'content-type': asset.contentType,
      'content-security-policy': contentSecurityPolicy,
      // no-cache: revalidate each time, so an upgraded gateway never runs yesterday's script.
      'cache-control': 'no-cache',
      etag: asset.etag,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    });
    if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send();
    return reply.send(asset.body);
  }

  return async function routes(app: FastifyInstance) {
    // ignoreTrailingSlash (app.ts) makes this route answer /ui/ as well.
    app.get('/ui', async (request, reply) => send(request, reply, assets.get('index.html') as ViewerAsset));
    app.get<{ Params: { file: string } }>('/ui/:file', async (request, reply) => {
      const asset = assets.get(request.params.file);
      if (!asset) throw new ProxyError(404, 'not_found', `The trace viewer has no file named "${request.params.file.slice(0, 100)}". Open /ui.`);
      return send(request, reply, asset);
    });
  };
}
