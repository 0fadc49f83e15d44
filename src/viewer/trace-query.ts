// The query string of GET /api/traces, validated: filters, the paging cursor and a capped page size.
import { z } from 'zod';
import { errors } from '../errors.ts';
import type { ListQuery } from '../traces/journal.ts';

export const maxPageSize = 200;
export const defaultPageSize = 50;

// An empty field (`?session=`) means "no filter", as an HTML form sends it.
const blankAsUnset = (value: unknown) => (value === '' ? undefined : value);
const label = z.preprocess(blankAsUnset, z.string().trim().min(1).max(256, 'expected at most 256 characters').optional());

const schema = z.strictObject({
  session: label,
  user: label,
  model: label,
  status: z.preprocess(blankAsUnset, z.string()
    .regex(/^(ok|error|[1-5]\d\d)$/, 'expected ok, error or an HTTP status such as 429')
    .transform((value) => (value === 'ok' || value === 'error' ? value : Number(value)))
    .optional()),
  before: z.preprocess(blankAsUnset, z.coerce.number({ message: 'expected the nextBefore of the previous page' })
    .int('expected the nextBefore of the previous page').positive('expected the nextBefore of the previous page').optional()),
  limit: z.preprocess(blankAsUnset, z.coerce.number({ message: 'expected a whole number' }).int('expected a whole number')
    .min(1, 'expected at least 1').default(defaultPageSize)
    .transform((value) => Math.min(value, maxPageSize))),
});

/** Throws an OpenAI-shaped 400 naming the first bad parameter. */
export function parseTraceQuery(query: unknown): ListQuery {
  const parsed = schema.safeParse(query ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  if (issue?.code === 'unrecognized_keys') {
    throw errors.invalidBody(`Unknown query parameter "${issue.keys.join('", "')}". Use session, user, model, status, before and limit.`);
  }
  const name = String(issue?.path[0] ?? 'query');
  const message = issue?.code === 'invalid_type' && issue.expected === 'string' ? 'expected a single value' : issue?.message;
  throw errors.invalidBody(`Invalid query parameter "${name}": ${message ?? 'invalid value'}.`);
}
