// Reads an embeddings answer: usage and cost, and the shape of the vectors (never the vectors themselves,
// which would bloat every trace and tell a reader nothing).
import type { ResponseSummary } from './response-summary.ts';
import { describeError } from './chat-result.ts';
import { readUsage } from './usage.ts';
import type { Json } from './json-shape.ts';


export function readEmbeddingsBody(json: Json): ResponseSummary {
  const data = Array.isArray(json.data) ? json.data : [];
  const first = data[0] as Json | undefined;
  const dimensions = Array.isArray(first?.embedding) ? first.embedding.length : undefined;
  return {
    ...readUsage(json.usage),
    model: typeof json.model === 'string' ? json.model : undefined,
    provider: typeof json.provider === 'string' ? json.provider : undefined,
    generationId: typeof json.id === 'string' ? json.id : undefined,
    error: describeError(json.error),
    output: { raw: { vectors: data.length, dimensions } },
  };
}
