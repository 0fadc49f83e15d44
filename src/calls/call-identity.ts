// Who and what a call belongs to: session, user, tags and trace name, from headers and body,
// including the seed's session id smuggled in `response_format.type` (../shared/contracts/clients.md).
import type { IncomingHttpHeaders } from 'node:http';
import { callFactMetadataKeys } from './llm-call.ts';
import type { Endpoint } from './llm-call.ts';
import { cleanLabel, cleanTags } from './clean-label.ts';
import { isObject } from './json-shape.ts';

/** OpenRouter's real `response_format.type` values; anything else is a smuggled session id. */
const realResponseFormats = new Set(['text', 'json_object', 'json_schema', 'grammar', 'python']);

export interface CallIdentity {
  sessionId?: string;
  userId?: string;
  tags: string[];
  name: string;
  /** The body's `metadata` object, flattened to cleaned top-level values (the seed's "request metadata"). */
  metadata: Record<string, string | number | boolean>;
  /** The body carries a response format whose type is not a real one: removed before forwarding. */
  smuggledFormat: boolean;
  /** That type as a session id, cleaned (undefined when nothing is left, e.g. n8n's empty expression). */
  smuggledSessionId?: string;
  /**
   * The client's `x-session-id` header, cleaned, as it goes on the wire (UTF-8 bytes, one per character, which is how
   * an HTTP client writes a string): forwarded to OpenRouter, which reads it too.
   */
  sessionHeader?: string;
}

type Body = Record<string, unknown>;

const rawHeader = (headers: IncomingHttpHeaders, name: string) => {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
};
const header = (headers: IncomingHttpHeaders, name: string) => headerText(rawHeader(headers, name));

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * A header value as the client wrote it. Node reads header bytes as Latin-1, one character per byte; clients send
 * UTF-8 (`séance` arrives as `sÃ©ance`). Bytes that form valid UTF-8 are read as UTF-8, anything else as Latin-1.
 */
export function headerText(value: string | undefined): string | undefined {
  if (value === undefined || !/[\x80-\xff]/.test(value)) return value;
  try {
    return strictUtf8.decode(Buffer.from(value, 'latin1'));
  } catch {
    return value;
  }
}

/**
 * The cleaned `x-session-id` as header bytes for OpenRouter: the client's own bytes when cleaning left the value as it
 * was read, else the cleaned text as UTF-8 (one character per byte: what undici writes as it is).
 */
function sessionOnTheWire(raw: string | undefined, read: string | undefined, clean: string | undefined): string | undefined {
  if (clean === undefined || raw === undefined) return clean;
  if (clean === read) return raw;
  return /^[\x00-\x7f]*$/.test(clean) ? clean : Buffer.from(clean, 'utf8').toString('latin1');
}


/** The type where a response format belongs (`text.format` on /responses), when it is not a real one. */
function smuggledFormatType(endpoint: Endpoint, body: Body): string | undefined {
  const format = endpoint === 'responses'
    ? (isObject(body.text) ? body.text.format : undefined)
    : body.response_format;
  if (!isObject(format) || typeof format.type !== 'string') return undefined;
  if (realResponseFormats.has(format.type)) return undefined;
  return format.type;
}

/**
 * Removes a smuggled session id from the body and sends it upstream as `session_id` instead, replacing one the
 * body had: the smuggled id is the call's session (identifyCall), and OpenRouter must group the call under it too.
 * An empty one (an n8n expression with no value) is removed all the same: OpenRouter refuses the type.
 */
export function unsmuggleSession(endpoint: Endpoint, body: Body, sessionId: string | undefined): Body {
  const next: Body = { ...body };
  if (endpoint === 'responses' && isObject(body.text)) {
    const { format: _format, ...text } = body.text;
    if (Object.keys(text).length > 0) next.text = text;
    else delete next.text;
  } else {
    delete next.response_format;
  }
  if (sessionId !== undefined) next.session_id = sessionId;
  return next;
}

/** JSON.parse's source-text access and JSON.rawJSON (Node 21+; not yet in TypeScript's es2024 lib). */
const sourceJson = JSON as unknown as {
  parse(text: string, reviver: (key: string, value: unknown, context: { source?: string }) => unknown): unknown;
  rawJSON(text: string): unknown;
};

/**
 * The request body to send upstream once the smuggled format is taken out: re-serialised, with every number written
 * as the client wrote it (a seed above 2^53, `1.0`), which a parse and stringify would change.
 */
export function unsmuggledBody(endpoint: Endpoint, raw: Buffer, sessionId: string | undefined): string {
  const exact = sourceJson.parse(raw.toString('utf8'), (_key, value, context) =>
    typeof value === 'number' && context.source !== undefined ? sourceJson.rawJSON(context.source) : value) as Body;
  return JSON.stringify(unsmuggleSession(endpoint, exact, sessionId));
}

export function identifyCall(endpoint: Endpoint, body: Body, headers: IncomingHttpHeaders, defaultTags: string[]): CallIdentity {
  const smuggledType = smuggledFormatType(endpoint, body);
  const smuggledSessionId = smuggledType === undefined ? undefined : cleanLabel(smuggledType, 256);
  const metadata = isObject(body.metadata) ? body.metadata : {};
  // OpenRouter's own order: the body's session_id, else the x-session-id header (../shared/contracts/openrouter.md),
  // so the Langfuse session is the one OpenRouter groups the call under. Up to 256 characters, as there.
  const rawSession = rawHeader(headers, 'x-session-id');
  const readSession = headerText(rawSession);
  const sessionHeader = cleanLabel(readSession, 256);
  const sessionId = smuggledSessionId
    ?? cleanLabel(body.session_id, 256)
    ?? sessionHeader
    ?? cleanLabel(metadata.session_id, 256);
  const userId = cleanLabel(header(headers, 'x-user-id')) ?? cleanLabel(body.user);
  const headerTags = (header(headers, 'x-trace-tags') ?? '').split(',');
  // The operator's tags first: a client's 20 tags must not push out the ones traces are filtered on.
  const tags = cleanTags([...defaultTags, ...headerTags]);
  const name = cleanLabel(header(headers, 'x-trace-name'), 100) ?? endpoint;
  return {
    sessionId, userId, tags, name, smuggledFormat: smuggledType !== undefined, smuggledSessionId,
    sessionHeader: sessionOnTheWire(rawSession, readSession, sessionHeader),
    metadata: clientMetadata(metadata),
  };
}

const maxMetadataKeys = 50;

/**
 * Metadata keys the gateway writes itself: `client` (the user agent) and the call's own facts. A client's key of the
 * same name is dropped, so neither Langfuse nor the trace viewer shows it in their place.
 */
const gatewayMetadataKeys: ReadonlySet<string> = new Set(['client', ...callFactMetadataKeys]);

/**
 * The client's metadata as trace metadata: numbers and booleans as they are, strings cleaned and capped,
 * anything else as capped JSON text. At most 50 keys; keys and values cleaned like every client label; the
 * gateway's own keys left out.
 */
export function clientMetadata(metadata: Record<string, unknown>): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  let count = 0;
  for (const [rawKey, value] of Object.entries(metadata)) {
    if (count >= maxMetadataKeys) break;
    const key = cleanLabel(rawKey, 64);
    if (key === undefined || gatewayMetadataKeys.has(key) || value === undefined || value === null) continue;
    const clean = typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value)) ? value
      : cleanLabel(typeof value === 'string' ? value : JSON.stringify(value), 1000);
    if (clean === undefined) continue;
    out[key] = clean;
    count += 1;
  }
  return out;
}
