// GET /api/traces (a filtered, newest-first page of calls) and GET /api/traces/:id (one whole call
// record, the same one Langfuse gets, with its delivery state). Behind the gateway key (app.ts).
import type { FastifyInstance } from 'fastify';
import { ProxyError } from '../errors.ts';
import type { Journal } from '../traces/journal.ts';
import { parseTraceQuery } from './trace-query.ts';

export interface TraceApiDeps {
  journal: Pick<Journal, 'list' | 'getJson'>;
  deliveryState: () => unknown;
}

export function traceApi(deps: TraceApiDeps) {
  return async function routes(app: FastifyInstance) {
    // Trace data holds prompts and answers: no cache keeps a copy, and no browser reads it as anything but JSON.
    app.addHook('onSend', async (_request, reply) => {
      reply.header('cache-control', 'no-store');
      reply.header('x-content-type-options', 'nosniff');
    });

    app.get('/api/traces', async (request) => {
      const page = deps.journal.list(parseTraceQuery(request.query));
      return { items: page.items, nextBefore: page.nextBefore ?? null, delivery: deps.deliveryState() };
    });

    // The stored record as it is, with its delivery state: a 20 MB call is sent, not parsed and re-serialised
    // on the request thread (about 200 ms that every running stream would wait).
    app.get<{ Params: { id: string } }>('/api/traces/:id', async (request, reply) => {
      const { id } = request.params;
      const json = deps.journal.getJson(id);
      if (json === undefined) {
        throw new ProxyError(404, 'not_found',
          `No call with id "${id.slice(0, 64)}" in the trace journal. It may be older than TRACE_RETENTION_DAYS and pruned.`);
      }
      return reply.type('application/json; charset=utf-8').send(json);
    });
  };
}
