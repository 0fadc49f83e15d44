// Placeholder until the trace viewer lands: no routes yet.
import type { FastifyInstance } from 'fastify';
import type { Journal } from '../traces/journal.ts';

export function viewerRoutes(_deps: { journal: Journal; deliveryState: () => unknown }) {
  return async function routes(_app: FastifyInstance) {};
}
