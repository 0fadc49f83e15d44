// A fake Langfuse OTLP/HTTP JSON ingestion server for tests: checks requests like the real one, keeps
// the spans it accepts, and shows them as Langfuse would (mapping: ../../../shared/contracts/langfuse-otel-attributes.md).
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

export interface OtlpAnyValue {
  stringValue?: string;
  intValue?: number | string;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values: OtlpAnyValue[] };
}
export interface OtlpAttribute { key: string; value: OtlpAnyValue }
export interface OtlpScope { name?: string; version?: string; attributes?: OtlpAttribute[] }
export interface OtlpStatus { code?: 0 | 1 | 2; message?: string }
/** One accepted span as received (OTLP/JSON shape), with its resource, scope and delivery count. */
export interface RawSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind?: number;
  startTimeUnixNano: string | number;
  endTimeUnixNano: string | number;
  attributes: OtlpAttribute[];
  status?: OtlpStatus;
  events?: unknown[];
  links?: unknown[];
  flags?: number;
  resourceAttributes: OtlpAttribute[];
  scope: OtlpScope;
  deliveries: number;
}

export type LangfuseLevel = 'DEBUG' | 'DEFAULT' | 'WARNING' | 'ERROR';
export interface LangfuseObservationView {
  id: string; traceId: string; parentObservationId?: string; type: string; name: string;
  startTime: string; endTime: string; level: LangfuseLevel; statusMessage?: string;
  model?: string; modelParameters?: Record<string, unknown>; input?: unknown; output?: unknown;
  usageDetails?: Record<string, number>; costDetails?: Record<string, number>; completionStartTime?: string;
  metadata: Record<string, unknown>; environment: string; version?: string; deliveries: number;
}
export interface LangfuseTraceView {
  id: string; name?: string; userId?: string; sessionId?: string; tags: string[]; release?: string;
  version?: string; environment: string; input?: unknown; output?: unknown; metadata: Record<string, unknown>;
  public?: boolean; observations: LangfuseObservationView[];
}
/**
 * `partial`: spans that fail the checks are dropped one by one, the rest stored, and the answer is a 200 with OTLP's
 * `partialSuccess` (as a collector in front of Langfuse may answer). `html200`: a 200 login page from a proxy in
 * front of Langfuse, nothing stored. `poison500`: a 500 for any batch that holds the text `poison-record` (a record
 * that makes Langfuse fail, or times out alone), the others stored.
 */
export type FakeLangfuseMode = 'ok' | '401' | '429' | '503' | 'stall' | 'reset' | 'partial' | 'html200' | 'poison500';
export interface FakeLangfuse {
  url: string;
  publicKey: string; secretKey: string;
  readonly mode: FakeLangfuseMode;
  setMode(mode: FakeLangfuseMode): void;
  stop(): Promise<void>; restart(): Promise<void>;
  readonly requestCount: number; readonly statusCounts: Record<number, number>;
  readonly rejections: Array<{ status: number; message: string }>;
  /** Headers and span count of every accepted (200) request, oldest first. */
  readonly acceptedRequests: Array<{ headers: IncomingHttpHeaders; spanCount: number }>;
  spans(): RawSpan[];
  traces(): LangfuseTraceView[];
  trace(id: string): LangfuseTraceView | undefined;
  waitForTraces(count: number, timeoutMs?: number): Promise<LangfuseTraceView[]>;
  maxDeliveries(): number;
  reset(): void; close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Payload validation: a malformed batch is refused whole with a 400 that names span and problem.
// ---------------------------------------------------------------------------------------------

class PayloadError extends Error {}
function fail(message: string): never { throw new PayloadError(message); }

type JsonObject = Record<string, unknown>;
const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const OBSERVATION_TYPES = new Set(['span', 'generation', 'event', 'embedding', 'agent', 'tool', 'chain', 'retriever', 'evaluator', 'guardrail']);
const LEVELS = new Set(['DEBUG', 'DEFAULT', 'WARNING', 'ERROR']);
// ISO-8601 date-time with a zone: without one, Langfuse would read the time in the server's zone.
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$/;

function checkAnyValue(value: unknown, where: string): OtlpAnyValue {
  if (!isObject(value)) fail(`${where} must be an AnyValue object`);
  const present = Object.keys(value).filter((key) => value[key] !== null && value[key] !== undefined);
  if (present.length !== 1) {
    fail(`${where} must have exactly one of stringValue|intValue|doubleValue|boolValue|arrayValue, got [${present.join(', ')}]`);
  }
  const field = present[0] ?? '';
  const inner = value[field];
  if (field === 'stringValue' && typeof inner === 'string') return { stringValue: inner };
  if (field === 'boolValue' && typeof inner === 'boolean') return { boolValue: inner };
  if (field === 'doubleValue' && typeof inner === 'number') return { doubleValue: inner };
  if (field === 'intValue' && ((typeof inner === 'number' && Number.isInteger(inner)) || (typeof inner === 'string' && /^-?\d+$/.test(inner)))) {
    return { intValue: inner };
  }
  if (field === 'arrayValue' && isObject(inner) && Array.isArray(inner.values)) {
    return { arrayValue: { values: inner.values.map((item, i) => checkAnyValue(item, `${where}.arrayValue.values[${i}]`)) } };
  }
  if (field === 'kvlistValue' || field === 'bytesValue') {
    fail(`${where}: ${field} is not decoded by Langfuse (it would store the AnyValue's JSON text); send a JSON stringValue`);
  }
  fail(`${where}: ${field} has an invalid value ${JSON.stringify(inner)}`);
}

function checkAttributes(value: unknown, where: string): OtlpAttribute[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) fail(`${where} must be an array`);
  return value.map((entry, i) => {
    if (!isObject(entry) || typeof entry.key !== 'string' || entry.key === '') fail(`${where}[${i}] must be {key: non-empty string, value}`);
    return { key: entry.key, value: checkAnyValue(entry.value, `${where}[${i}] (${entry.key}).value`) };
  });
}

function parseJsonText(value: OtlpAnyValue, problem: () => never): unknown {
  if (value.stringValue === undefined) problem();
  try { return JSON.parse(value.stringValue); } catch { return problem(); }
}

function checkUsageDetails(usage: JsonObject): string | undefined {
  if (convertOpenAiUsage(usage)) return undefined;
  for (const [key, count] of Object.entries(usage)) {
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 0) {
      return `values must be non-negative integers (got ${key}: ${JSON.stringify(count)})`;
    }
  }
  return undefined;
}

/** Typed-value strictness for the langfuse.* attributes whose shape Langfuse relies on. */
function checkTypedAttribute({ key, value }: OtlpAttribute, label: string): void {
  function bad(problem: string): never { fail(`${label}: attribute ${key} ${problem}`); }
  switch (key) {
    case 'langfuse.observation.input': case 'langfuse.observation.output':
    case 'langfuse.trace.input': case 'langfuse.trace.output':
      parseJsonText(value, () => bad('must be a stringValue holding JSON'));
      return;
    case 'langfuse.observation.model.parameters': case 'langfuse.observation.usage_details':
    case 'langfuse.observation.cost_details': case 'langfuse.observation.metadata': case 'langfuse.trace.metadata': {
      const parsed = parseJsonText(value, () => bad('must be a stringValue holding a JSON object'));
      if (!isObject(parsed)) bad('must be a stringValue holding a JSON object');
      if (key.endsWith('usage_details')) {
        const problem = checkUsageDetails(parsed);
        if (problem) bad(problem);
      }
      if (key.endsWith('cost_details')) {
        for (const [name, cost] of Object.entries(parsed)) {
          if (typeof cost !== 'number' || !Number.isFinite(cost) || cost < 0) bad(`values must be non-negative numbers (got ${name}: ${JSON.stringify(cost)})`);
        }
      }
      return;
    }
    case 'langfuse.observation.completion_start_time': {
      let text = value.stringValue ?? bad('must be a stringValue');
      if (text.startsWith('"')) {
        const unquoted = parseJsonText(value, () => bad('is not valid JSON-quoted text'));
        text = typeof unquoted === 'string' ? unquoted : bad('must be an ISO-8601 string');
      }
      if (!ISO_DATE_TIME.test(text) || Number.isNaN(Date.parse(text))) bad(`must be an ISO-8601 date-time with zone, got ${JSON.stringify(text)}`);
      return;
    }
    case 'langfuse.observation.type':
      if (value.stringValue === undefined || !OBSERVATION_TYPES.has(value.stringValue)) bad(`must be one of ${[...OBSERVATION_TYPES].join('|')}`);
      return;
    case 'langfuse.observation.level':
      if (value.stringValue === undefined || !LEVELS.has(value.stringValue)) bad(`must be one of ${[...LEVELS].join('|')}`);
      return;
    case 'langfuse.trace.tags':
      if (value.stringValue !== undefined) return;
      if (!value.arrayValue || value.arrayValue.values.some((tag) => tag.stringValue === undefined)) bad('must be an arrayValue of stringValues (or a stringValue)');
      return;
    case 'user.id': case 'session.id': case 'langfuse.user.id': case 'langfuse.session.id':
      if (value.stringValue === undefined) bad('must be a stringValue');
      return;
    default:
  }
}

function checkId(value: unknown, hexLength: number, field: string, label: string): string {
  if (typeof value !== 'string' || value.length !== hexLength || !/^[0-9a-f]+$/.test(value)) {
    fail(`${label}: ${field} must be ${hexLength} lowercase hex characters, got ${JSON.stringify(value)}`);
  }
  if (/^0+$/.test(value)) fail(`${label}: ${field} must not be all zeros`);
  return value;
}

function checkNanos(value: unknown, field: string, label: string): bigint {
  if (typeof value === 'string' && /^\d+$/.test(value)) return BigInt(value);
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return BigInt(value);
  fail(`${label}: ${field} must be a decimal string (or integer) of nanoseconds, got ${JSON.stringify(value)}`);
}

type CheckedSpan = Omit<RawSpan, 'deliveries'>;

function checkSpan(span: unknown, where: string, resourceAttributes: OtlpAttribute[], scope: OtlpScope): CheckedSpan {
  if (!isObject(span)) fail(`${where} must be an object`);
  const label = `span ${where}${typeof span.name === 'string' ? ` "${span.name}"` : ''}`;
  const traceId = checkId(span.traceId, 32, 'traceId', label);
  const spanId = checkId(span.spanId, 16, 'spanId', label);
  // proto3 JSON may carry an empty parentSpanId for a root span.
  const parentSpanId = span.parentSpanId === undefined || span.parentSpanId === null || span.parentSpanId === ''
    ? undefined : checkId(span.parentSpanId, 16, 'parentSpanId', label);
  if (parentSpanId === spanId) fail(`${label}: parentSpanId equals spanId`);
  if (typeof span.name !== 'string' || span.name === '') fail(`${label}: name must be a non-empty string`);
  const start = checkNanos(span.startTimeUnixNano, 'startTimeUnixNano', label);
  const end = checkNanos(span.endTimeUnixNano, 'endTimeUnixNano', label);
  if (end < start) fail(`${label}: endTimeUnixNano is before startTimeUnixNano`);
  if (span.kind !== undefined && (typeof span.kind !== 'number' || !Number.isInteger(span.kind) || span.kind < 0 || span.kind > 5)) fail(`${label}: kind must be an integer 0..5`);
  let status: OtlpStatus | undefined;
  if (span.status !== undefined && span.status !== null) {
    const raw = span.status;
    if (!isObject(raw)) fail(`${label}: status must be an object`);
    if (raw.code !== undefined && raw.code !== 0 && raw.code !== 1 && raw.code !== 2) fail(`${label}: status.code must be 0, 1 or 2`);
    if (raw.message !== undefined && typeof raw.message !== 'string') fail(`${label}: status.message must be a string`);
    status = { ...(raw.code === undefined ? {} : { code: raw.code }), ...(raw.message === undefined ? {} : { message: raw.message }) };
  }
  const attributes = checkAttributes(span.attributes, `${label}: attributes`);
  for (const attribute of attributes) checkTypedAttribute(attribute, label);
  const checked: CheckedSpan = {
    traceId, spanId, name: span.name, startTimeUnixNano: span.startTimeUnixNano as string | number,
    endTimeUnixNano: span.endTimeUnixNano as string | number, attributes, resourceAttributes, scope,
  };
  if (parentSpanId) checked.parentSpanId = parentSpanId;
  if (typeof span.kind === 'number') checked.kind = span.kind;
  if (status) checked.status = status;
  if (Array.isArray(span.events)) checked.events = span.events;
  if (Array.isArray(span.links)) checked.links = span.links;
  if (typeof span.flags === 'number') checked.flags = span.flags;
  return checked;
}

function checkScope(value: unknown, where: string): OtlpScope {
  if (value === undefined || value === null) return {};
  if (!isObject(value)) fail(`${where} must be an object`);
  if (value.name !== undefined && typeof value.name !== 'string') fail(`${where}.name must be a string`);
  if (value.version !== undefined && typeof value.version !== 'string') fail(`${where}.version must be a string`);
  const scope: OtlpScope = { attributes: checkAttributes(value.attributes, `${where}.attributes`) };
  if (typeof value.name === 'string') scope.name = value.name;
  if (typeof value.version === 'string') scope.version = value.version;
  return scope;
}

/** Validates an ExportTraceServiceRequest (OTLP/JSON) and returns its spans; throws PayloadError. */
export function parseTraceExport(body: unknown): CheckedSpan[] {
  if (!isObject(body) || !Array.isArray(body.resourceSpans)) fail('body must be an object with a resourceSpans array');
  const spans: CheckedSpan[] = [];
  body.resourceSpans.forEach((resourceSpan: unknown, r: number) => {
    const where = `resourceSpans[${r}]`;
    if (!isObject(resourceSpan)) fail(`${where} must be an object`);
    const resource = resourceSpan.resource;
    const resourceAttributes = isObject(resource) ? checkAttributes(resource.attributes, `${where}.resource.attributes`)
      : resource === undefined || resource === null ? [] : fail(`${where}.resource must be an object`);
    const scopeSpans = resourceSpan.scopeSpans;
    if (!Array.isArray(scopeSpans)) fail(`${where}.scopeSpans must be an array`);
    scopeSpans.forEach((scopeSpan: unknown, s: number) => {
      const at = `${where}.scopeSpans[${s}]`;
      if (!isObject(scopeSpan)) fail(`${at} must be an object`);
      const scope = checkScope(scopeSpan.scope, `${at}.scope`);
      const list = scopeSpan.spans;
      if (!Array.isArray(list)) fail(`${at}.spans must be an array`);
      list.forEach((span: unknown, i: number) => spans.push(checkSpan(span, `${at}.spans[${i}]`, resourceAttributes, scope)));
    });
  });
  return spans;
}

function gunzipIfNeeded(req: IncomingMessage, raw: Buffer): string {
  try {
    return (req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString('utf8');
  } catch {
    return '';
  }
}

/** Each span checked on its own (mode `partial`): the ones that pass, and how many did not. */
function parseSpanBySpan(body: unknown): { spans: CheckedSpan[]; refused: number } {
  if (!isObject(body) || !Array.isArray(body.resourceSpans)) fail('body must be an object with a resourceSpans array');
  const spans: CheckedSpan[] = [];
  let refused = 0;
  for (const resourceSpan of body.resourceSpans) {
    if (!isObject(resourceSpan) || !Array.isArray(resourceSpan.scopeSpans)) { refused += 1; continue; }
    for (const scopeSpan of resourceSpan.scopeSpans) {
      if (!isObject(scopeSpan) || !Array.isArray(scopeSpan.spans)) { refused += 1; continue; }
      for (const span of scopeSpan.spans) {
        try {
          spans.push(...parseTraceExport({ resourceSpans: [{ ...resourceSpan, scopeSpans: [{ ...scopeSpan, spans: [span] }] }] }));
        } catch (error) {
          if (!(error instanceof PayloadError)) throw error;
          refused += 1;
        }
      }
    }
  }
  return { spans, refused };
}

// ---------------------------------------------------------------------------------------------
// Mapping: the Langfuse server's view of the stored spans (first match wins in every list).
// ---------------------------------------------------------------------------------------------

function toPlain(value: OtlpAnyValue): unknown {
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.arrayValue !== undefined) return value.arrayValue.values.map(toPlain);
  if (value.intValue !== undefined) return Number(value.intValue);
  return JSON.stringify(value);
}

function attributeMap(attributes: OtlpAttribute[] | undefined): JsonObject {
  const map: JsonObject = {};
  for (const { key, value } of attributes ?? []) map[key] = toPlain(value);
  return map;
}

/** Langfuse stores JSON-string attributes as text and parses them when read. */
function parseJsonValue(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try { return JSON.parse(value); } catch { return value; }
}

function firstPresent(attributes: JsonObject, keys: string[]): unknown {
  for (const key of keys) if (attributes[key]) return attributes[key];
  return undefined;
}

function asText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

export function normaliseEnvironment(value: unknown): string {
  if (typeof value !== 'string') return 'default';
  const stripped = value.toLowerCase().replace(/^(?:langfuse[-_]?)+/, '').slice(0, 40);
  return stripped !== '' && /^[a-z0-9-_]+$/.test(stripped) ? stripped : 'default';
}

function extractEnvironment(attributes: JsonObject, resource: JsonObject): string {
  for (const key of ['langfuse.environment', 'deployment.environment.name', 'deployment.environment']) {
    if (attributes[key]) return normaliseEnvironment(attributes[key]);
    if (resource[key]) return normaliseEnvironment(resource[key]);
  }
  return 'default';
}

const MODEL_KEYS = ['langfuse.observation.model.name', 'gen_ai.response.model', 'ai.model.id', 'gen_ai.request.model', 'llm.response.model', 'llm.model_name', 'model'];
const GENERATION_LIKE = new Set(['generation', 'agent', 'tool', 'chain', 'retriever', 'evaluator', 'embedding', 'guardrail']);
const OPENINFERENCE_KINDS: Record<string, string> = { LLM: 'generation', EMBEDDING: 'embedding', TOOL: 'tool', AGENT: 'agent', CHAIN: 'chain', RETRIEVER: 'retriever', GUARDRAIL: 'guardrail', EVALUATOR: 'evaluator' };
const GEN_AI_OPERATIONS: Record<string, string> = {
  chat: 'generation', text_completion: 'generation', completion: 'generation', generate_content: 'generation', generate: 'generation',
  embeddings: 'embedding', execute_tool: 'tool', invoke_agent: 'agent', create_agent: 'agent',
};

function observationType(attributes: JsonObject): string {
  const explicit = attributes['langfuse.observation.type'];
  if (typeof explicit === 'string') return explicit.toLowerCase();
  const kind = OPENINFERENCE_KINDS[String(attributes['openinference.span.kind'] ?? '').toUpperCase()];
  if (kind) return kind;
  const operation = GEN_AI_OPERATIONS[String(attributes['gen_ai.operation.name'] ?? '')];
  if (operation) return operation;
  return MODEL_KEYS.some((key) => attributes[key]) ? 'generation' : 'span';
}

/** Model parameters are string/number pairs in Langfuse; anything else is JSON-stringified. */
function sanitiseParameters(parameters: unknown): Record<string, unknown> | undefined {
  if (!isObject(parameters)) return undefined;
  return Object.fromEntries(Object.entries(parameters).map(([key, v]) => [key, typeof v === 'string' || typeof v === 'number' ? v : JSON.stringify(v)]));
}

function extractModelParameters(attributes: JsonObject): Record<string, unknown> | undefined {
  for (const key of ['langfuse.observation.model.parameters', 'llm.invocation_parameters']) {
    if (attributes[key]) return sanitiseParameters(parseJsonValue(attributes[key]));
  }
  const requestKeys = Object.keys(attributes).filter((key) => key.startsWith('gen_ai.request.') && key !== 'gen_ai.request.model');
  if (requestKeys.length === 0) return undefined;
  return sanitiseParameters(Object.fromEntries(requestKeys.map((key) => [key.slice('gen_ai.request.'.length), attributes[key]])));
}

const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value) && value >= 0;

/** OpenAI chat/completions or responses usage -> Langfuse buckets; undefined if not exactly that shape. */
function convertOpenAiUsage(usage: JsonObject): Record<string, number> | undefined {
  for (const [input, output] of [['prompt_tokens', 'completion_tokens'], ['input_tokens', 'output_tokens']] as const) {
    const allowed = new Set([input, output, 'total_tokens', `${input}_details`, `${output}_details`]);
    if (!Object.keys(usage).every((key) => allowed.has(key))) continue;
    const [inputCount, outputCount, total] = [usage[input], usage[output], usage.total_tokens];
    if (!isCount(inputCount) || !isCount(outputCount) || !isCount(total)) continue;
    const result: Record<string, number> = { input: inputCount, output: outputCount, total };
    let valid = true;
    for (const [side, detailsKey] of [['input', `${input}_details`], ['output', `${output}_details`]] as const) {
      const details = usage[detailsKey];
      if (details === undefined || details === null) continue;
      if (!isObject(details)) { valid = false; continue; }
      for (const [name, count] of Object.entries(details)) {
        if (count === null || count === undefined) continue;
        if (!isCount(count)) { valid = false; continue; }
        result[`${side}_${name}`] = count;
        result[side] = Math.max((result[side] ?? 0) - count, 0);
      }
    }
    if (valid) return result;
  }
  return undefined;
}

const USAGE_KEY_NAMES: Record<string, string> = {
  prompt_tokens: 'input', completion_tokens: 'output', total_tokens: 'total', input_tokens: 'input', output_tokens: 'output',
  prompt: 'input', completion: 'output', total: 'total', cache_read_input_tokens: 'input_cached_tokens', cached_tokens: 'input_cached_tokens',
  reasoning_tokens: 'output_reasoning_tokens',
};

function extractUsageDetails(attributes: JsonObject): Record<string, number> | undefined {
  let usage: Record<string, number> = {};
  const provided = parseJsonValue(attributes['langfuse.observation.usage_details']);
  if (isObject(provided)) {
    usage = convertOpenAiUsage(provided) ?? Object.fromEntries(Object.entries(provided).filter((entry): entry is [string, number] => typeof entry[1] === 'number'));
  } else {
    for (const key of Object.keys(attributes)) {
      if (!(key.startsWith('gen_ai.usage.') && key !== 'gen_ai.usage.cost') && !key.startsWith('llm.token_count.')) continue;
      const name = key.replace(/^gen_ai\.usage\.|^llm\.token_count\./, '');
      const count = Number(attributes[key]);
      if (!Number.isNaN(count)) usage[USAGE_KEY_NAMES[name] ?? name] = count;
    }
    if (Object.keys(usage).length === 0) return undefined;
    if (usage.input !== undefined && usage.input_cached_tokens) usage.input = Math.max(usage.input - usage.input_cached_tokens, 0);
    if (usage.output !== undefined && usage.output_reasoning_tokens) usage.output = Math.max(usage.output - usage.output_reasoning_tokens, 0);
  }
  if (Object.keys(usage).length > 0 && usage.total === undefined) {
    usage.total = Object.values(usage).reduce((sum, count) => sum + count, 0);
  }
  return usage;
}

function extractCostDetails(attributes: JsonObject): Record<string, number> | undefined {
  const provided = parseJsonValue(attributes['langfuse.observation.cost_details']);
  if (isObject(provided)) return Object.fromEntries(Object.entries(provided).filter((entry): entry is [string, number] => typeof entry[1] === 'number'));
  const total = firstPresent(attributes, ['gen_ai.usage.cost', 'llm.cost.total']);
  return total === undefined ? undefined : { total: Number(total) };
}

function extractCompletionStartTime(attributes: JsonObject): string | undefined {
  const value = attributes['langfuse.observation.completion_start_time'];
  if (typeof value !== 'string') return undefined;
  const text = value.startsWith('"') ? parseJsonValue(value) : value;
  return typeof text === 'string' && !Number.isNaN(Date.parse(text)) ? text : undefined;
}

const IO_KEYS: Array<[string, string]> = [['input.value', 'output.value'], ['gen_ai.input.messages', 'gen_ai.output.messages']];
const IO_ATTRIBUTE_KEYS = new Set(['langfuse.trace.input', 'langfuse.trace.output', 'langfuse.observation.input', 'langfuse.observation.output', ...IO_KEYS.flat()]);

function extractInputOutput(attributes: JsonObject, domain: 'trace' | 'observation'): { input?: unknown; output?: unknown } {
  const pick = (side: 'input' | 'output'): unknown =>
    domain === 'trace' && attributes[`langfuse.trace.${side}`] ? attributes[`langfuse.trace.${side}`] : attributes[`langfuse.observation.${side}`];
  let input = pick('input');
  let output = pick('output');
  for (const [inputKey, outputKey] of IO_KEYS) {
    if (input != null || output != null) break;
    input = attributes[inputKey];
    output = attributes[outputKey];
  }
  return { input: input == null ? undefined : parseJsonValue(input), output: output == null ? undefined : parseJsonValue(output) };
}

const VERCEL_TRACE_KEYS = new Set(['ai.telemetry.metadata.userId', 'ai.telemetry.metadata.sessionId', 'ai.telemetry.metadata.tags', 'ai.telemetry.metadata.langfusePrompt']);

/** `langfuse.<domain>.metadata` (JSON object) plus one `langfuse.<domain>.metadata.<key>` attribute per key. */
function extractMetadata(attributes: JsonObject, domain: 'trace' | 'observation'): JsonObject {
  const prefix = `langfuse.${domain}.metadata`;
  const topLevel = parseJsonValue(attributes[prefix] || attributes['langfuse.metadata']);
  const metadata: JsonObject = isObject(topLevel) ? { ...topLevel } : {};
  for (const [key, value] of Object.entries(attributes)) {
    for (const keyPrefix of [prefix, 'langfuse.metadata', 'ai.telemetry.metadata']) {
      // The JS SDK JSON-stringifies non-string values; Langfuse parses them back when read.
      if (key.startsWith(`${keyPrefix}.`) && !VERCEL_TRACE_KEYS.has(key)) metadata[key.slice(keyPrefix.length + 1)] = parseJsonValue(value);
    }
  }
  return metadata;
}

function extractTags(attributes: JsonObject): string[] {
  const tags = firstPresent(attributes, ['langfuse.trace.tags', 'langfuse.tags', 'langfuse.observation.metadata.langfuse_tags', 'langfuse.trace.metadata.langfuse_tags', 'ai.telemetry.metadata.tags', 'tag.tags']);
  if (Array.isArray(tags)) return tags.map(String);
  if (typeof tags !== 'string') return [];
  if (tags.trim().startsWith('[')) {
    const parsed = parseJsonValue(tags);
    if (Array.isArray(parsed)) return parsed.map(String);
  }
  return tags.includes(',') ? tags.split(',').map((tag) => tag.trim()) : [tags];
}

const USER_ID_KEYS = ['langfuse.user.id', 'user.id', 'langfuse.observation.metadata.langfuse_user_id', 'langfuse.trace.metadata.langfuse_user_id', 'ai.telemetry.metadata.userId'];
const SESSION_ID_KEYS = ['langfuse.session.id', 'session.id', 'gen_ai.conversation.id', 'langfuse.observation.metadata.langfuse_session_id', 'langfuse.trace.metadata.langfuse_session_id', 'ai.telemetry.metadata.sessionId'];
const TRACE_UPDATE_KEYS = ['langfuse.trace.name', 'langfuse.trace.input', 'langfuse.trace.output', 'langfuse.trace.public', 'langfuse.trace.tags', ...USER_ID_KEYS, ...SESSION_ID_KEYS, 'langfuse.observation.metadata.langfuse_tags', 'langfuse.trace.metadata.langfuse_tags', 'ai.telemetry.metadata.tags', 'tag.tags'];

function nanosToIso(nanos: string | number): string {
  return new Date(Number(BigInt(nanos) / 1_000_000n)).toISOString();
}

interface SpanContext { attributes: JsonObject; resource: JsonObject; isLangfuseSdk: boolean; isRoot: boolean }

function spanContext(span: RawSpan): SpanContext {
  const attributes = attributeMap(span.attributes);
  return {
    attributes,
    resource: attributeMap(span.resourceAttributes),
    isLangfuseSdk: span.scope.name?.startsWith('langfuse-sdk') ?? false,
    isRoot: !span.parentSpanId || String(attributes['langfuse.internal.as_root']) === 'true',
  };
}

/** Span attributes other than input/output are copied (as text) into metadata.attributes unless the scope is langfuse-sdk. */
function sourceMetadata(span: RawSpan, context: SpanContext, withSpanAttributes: boolean): JsonObject {
  const metadata: JsonObject = {};
  if (withSpanAttributes && !context.isLangfuseSdk) {
    metadata.attributes = Object.fromEntries(Object.entries(context.attributes)
      .filter(([key]) => !IO_ATTRIBUTE_KEYS.has(key))
      .map(([key, value]) => [key, typeof value === 'string' ? value : JSON.stringify(value)]));
  }
  metadata.resourceAttributes = context.resource;
  metadata.scope = withoutUndefined({ name: span.scope.name, version: span.scope.version, attributes: attributeMap(span.scope.attributes) });
  return metadata;
}

function toObservation(span: RawSpan): LangfuseObservationView {
  const context = spanContext(span);
  const { attributes, resource } = context;
  const type = observationType(attributes);
  const generationLike = GENERATION_LIKE.has(type);
  const level = attributes['langfuse.observation.level'];
  const toolName = asText(attributes['gen_ai.tool.name']);
  return withoutUndefined({
    id: span.spanId,
    traceId: span.traceId,
    parentObservationId: span.parentSpanId,
    type,
    name: toolName || span.name,
    startTime: nanosToIso(span.startTimeUnixNano),
    endTime: nanosToIso(span.endTimeUnixNano),
    level: typeof level === 'string' && LEVELS.has(level) ? level as LangfuseLevel : span.status?.code === 2 ? 'ERROR' : 'DEFAULT',
    statusMessage: asText(attributes['langfuse.observation.status_message']) ?? span.status?.message,
    model: generationLike ? asText(firstPresent(attributes, MODEL_KEYS)) : undefined,
    modelParameters: generationLike ? extractModelParameters(attributes) : undefined,
    ...extractInputOutput(attributes, 'observation'),
    usageDetails: generationLike ? extractUsageDetails(attributes) : undefined,
    costDetails: generationLike ? extractCostDetails(attributes) : undefined,
    completionStartTime: generationLike ? extractCompletionStartTime(attributes) : undefined,
    metadata: { ...extractMetadata(resource, 'trace'), ...extractMetadata(attributes, 'observation'), ...sourceMetadata(span, context, true) },
    environment: extractEnvironment(attributes, resource),
    version: asText(attributes['langfuse.version'] ?? resource['service.version']),
    deliveries: span.deliveries,
  });
}

type TraceFields = Omit<LangfuseTraceView, 'id' | 'observations' | 'environment' | 'tags' | 'metadata'>;

/** What one span says about its trace: everything for a root, the trace.* updates for others. */
function traceContribution(span: RawSpan): { fields: TraceFields; tags: string[]; metadata: JsonObject; environment: string } | undefined {
  const context = spanContext(span);
  const { attributes, resource, isRoot } = context;
  const hasUpdates = TRACE_UPDATE_KEYS.some((key) => Boolean(attributes[key])) || Object.keys(attributes).some((key) => key.startsWith('langfuse.trace.metadata'));
  if (!isRoot && !hasUpdates) return undefined;
  const publicValue = attributes['langfuse.trace.public'] ?? attributes['langfuse.public'];
  const fields: TraceFields = {
    name: asText(attributes['langfuse.trace.name']) ?? (isRoot ? asText(attributes['gen_ai.tool.name']) || span.name : undefined),
    userId: asText(firstPresent(attributes, USER_ID_KEYS)),
    sessionId: asText(firstPresent(attributes, SESSION_ID_KEYS)),
    release: asText(attributes['langfuse.release'] ?? resource['langfuse.release']),
    version: asText(attributes['langfuse.version'] ?? resource['service.version']),
    public: publicValue == null ? undefined : publicValue === true || publicValue === 'true',
    ...(isRoot ? extractInputOutput(attributes, 'trace') : {
      input: attributes['langfuse.trace.input'] == null ? undefined : parseJsonValue(attributes['langfuse.trace.input']),
      output: attributes['langfuse.trace.output'] == null ? undefined : parseJsonValue(attributes['langfuse.trace.output']),
    }),
  };
  const metadata = {
    ...extractMetadata(resource, 'trace'),
    ...extractMetadata(attributes, 'trace'),
    ...(isRoot ? extractMetadata(attributes, 'observation') : {}),
    ...sourceMetadata(span, context, isRoot),
  };
  return { fields, tags: extractTags(attributes), metadata, environment: extractEnvironment(attributes, resource) };
}

/** Langfuse upserts trace events in time order: later non-null fields win, metadata merges, tags union. */
function toTrace(id: string, spans: RawSpan[]): LangfuseTraceView {
  const ordered = [...spans].sort((a, b) => (BigInt(a.startTimeUnixNano) < BigInt(b.startTimeUnixNano) ? -1 : BigInt(a.startTimeUnixNano) > BigInt(b.startTimeUnixNano) ? 1 : 0));
  const first = ordered[0];
  const trace: LangfuseTraceView = {
    id, tags: [], metadata: {}, observations: ordered.map(toObservation),
    environment: first ? extractEnvironment(attributeMap(first.attributes), attributeMap(first.resourceAttributes)) : 'default',
  };
  for (const span of ordered) {
    const contribution = traceContribution(span);
    if (!contribution) continue;
    Object.assign(trace, withoutUndefined(contribution.fields));
    trace.environment = contribution.environment;
    trace.metadata = { ...trace.metadata, ...contribution.metadata };
    trace.tags = [...new Set([...trace.tags, ...contribution.tags])];
  }
  return trace;
}

// ---------------------------------------------------------------------------------------------
// HTTP server
// ---------------------------------------------------------------------------------------------

const TRACES_PATH = '/api/public/otel/v1/traces';

interface Answer { status: number; body: JsonObject; headers?: Record<string, string> }
interface StalledRequest { req: IncomingMessage; res: ServerResponse; body: Buffer }

export async function startFakeLangfuse(options: { publicKey?: string; secretKey?: string; port?: number } = {}): Promise<FakeLangfuse> {
  const publicKey = options.publicKey ?? 'pk-lf-fake';
  const secretKey = options.secretKey ?? 'sk-lf-fake';
  const expectedAuthorization = `Basic ${Buffer.from(`${publicKey}:${secretKey}`).toString('base64')}`;
  let mode: FakeLangfuseMode = 'ok';
  let requestCount = 0;
  let statusCounts: Record<number, number> = {};
  let rejections: Array<{ status: number; message: string }> = [];
  let acceptedRequests: Array<{ headers: IncomingHttpHeaders; spanCount: number }> = [];
  let store = new Map<string, RawSpan>();
  let stalled: StalledRequest[] = [];
  let waiters: Array<() => void> = [];
  let closed = false;

  const reject = (status: number, message: string, headers?: Record<string, string>): Answer =>
    ({ status, body: { message }, ...(headers ? { headers } : {}) });

  function ingest(req: IncomingMessage, raw: Buffer): Answer {
    const authorization = req.headers.authorization ?? '';
    if (/^bearer /i.test(authorization)) return reject(401, 'Bearer authentication is not accepted here; use Basic base64(publicKey:secretKey)');
    if (authorization !== expectedAuthorization) return reject(401, 'Invalid credentials: expected Basic auth with the configured public and secret key');
    const ingestionVersion = req.headers['x-langfuse-ingestion-version'];
    if (ingestionVersion !== undefined && (!/^\d+$/.test(String(ingestionVersion)) || Number(ingestionVersion) > 4)) {
      return reject(400, `Unsupported x-langfuse-ingestion-version ${JSON.stringify(ingestionVersion)} (at most 4)`);
    }
    const [mediaType = '', ...parameters] = (req.headers['content-type'] ?? '').split(';').map((part) => part.trim().toLowerCase());
    if (mediaType === 'application/x-protobuf') return reject(415, 'application/x-protobuf is not supported by this fake: the gateway only sends OTLP/JSON');
    if (mediaType !== 'application/json') return reject(415, `Unsupported Content-Type ${JSON.stringify(req.headers['content-type'] ?? '')}; expected application/json`);
    const charset = parameters.find((parameter) => parameter.startsWith('charset='));
    if (charset && charset !== 'charset=utf-8') return reject(415, `Unsupported ${charset}; expected utf-8`);
    const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
    let text: string;
    try {
      if (encoding === 'gzip') text = gunzipSync(raw).toString('utf8');
      else if (encoding === 'identity') text = raw.toString('utf8');
      else return reject(415, `Unsupported Content-Encoding ${encoding}; expected gzip or none`);
    } catch {
      return reject(400, 'Body is not valid gzip');
    }
    let body: unknown;
    try { body = JSON.parse(text); } catch { return reject(400, 'Body is not valid JSON'); }
    let spans: CheckedSpan[];
    let refused = 0;
    try {
      if (mode === 'partial') ({ spans, refused } = parseSpanBySpan(body));
      else spans = parseTraceExport(body);
    } catch (error) {
      if (error instanceof PayloadError) return reject(400, error.message);
      throw error;
    }
    for (const span of spans) {
      const key = span.traceId + span.spanId;
      store.set(key, { ...span, deliveries: (store.get(key)?.deliveries ?? 0) + 1 });
    }
    acceptedRequests.push({ headers: req.headers, spanCount: spans.length });
    if (refused > 0) return { status: 200, body: { partialSuccess: { rejectedSpans: String(refused), errorMessage: `${refused} span(s) failed validation` } } };
    return { status: 200, body: {} };
  }

  function send(res: ServerResponse, answer: Answer): void {
    statusCounts[answer.status] = (statusCounts[answer.status] ?? 0) + 1;
    if (answer.status >= 400 && answer.status < 500) rejections.push({ status: answer.status, message: String(answer.body.message) });
    res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
    res.end(JSON.stringify(answer.body));
    if (answer.status === 200) for (const wake of waiters) wake();
  }

  function dispatch(request: StalledRequest): void {
    const { req, res, body } = request;
    switch (mode) {
      case 'stall':
        stalled.push(request);
        res.once('close', () => { stalled = stalled.filter((entry) => entry !== request); });
        return;
      case 'reset': req.socket.destroy(); return;
      case '401': send(res, reject(401, 'Invalid credentials (fake mode 401)')); return;
      case '429': send(res, reject(429, 'Too many requests (fake mode 429)', { 'retry-after': '1' })); return;
      case '503': send(res, { status: 503, body: { message: 'Service unavailable (fake mode 503)' } }); return;
      case 'html200':
        statusCounts[200] = (statusCounts[200] ?? 0) + 1;
        res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>Sign in</title><form action="/login"></form>');
        return;
      case 'poison500':
        if (gunzipIfNeeded(req, body).includes('poison-record')) { send(res, { status: 500, body: { message: 'Internal error (fake mode poison500)' } }); return; }
        send(res, ingest(req, body));
        return;
      case 'ok': case 'partial': send(res, ingest(req, body));
    }
  }

  const server = createServer((req, res) => {
    requestCount += 1;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0];
      if (path !== TRACES_PATH) { send(res, reject(404, `No route for ${req.method ?? ''} ${path ?? ''}`)); return; }
      if (req.method !== 'POST') { send(res, reject(405, `Method ${req.method ?? ''} not allowed; use POST`)); return; }
      dispatch({ req, res, body: Buffer.concat(chunks) });
    });
  });

  const listen = (port: number): Promise<number> => new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
  const stop = (): Promise<void> => new Promise((resolve) => {
    if (!server.listening) { resolve(); return; }
    server.close(() => resolve());
    server.closeAllConnections();
    stalled = [];
  });

  /** Stalled requests are answered per the new mode, as if they had just arrived. */
  function setMode(next: FakeLangfuseMode): void {
    mode = next;
    if (next === 'stall') return;
    const waiting = stalled;
    stalled = [];
    for (const request of waiting) if (!request.req.socket.destroyed) dispatch(request);
  }

  const port = await listen(options.port ?? 0);

  function traces(): LangfuseTraceView[] {
    const byTrace = new Map<string, RawSpan[]>();
    for (const span of store.values()) byTrace.set(span.traceId, [...(byTrace.get(span.traceId) ?? []), span]);
    return [...byTrace].map(([id, spans]) => toTrace(id, spans));
  }
  const traceCount = (): number => new Set([...store.values()].map((span) => span.traceId)).size;

  return {
    url: `http://127.0.0.1:${port}`,
    publicKey,
    secretKey,
    get mode() { return mode; },
    setMode,
    stop,
    async restart() { if (!server.listening && !closed) await listen(port); },
    get requestCount() { return requestCount; },
    get statusCounts() { return statusCounts; },
    get rejections() { return rejections; },
    get acceptedRequests() { return acceptedRequests; },
    spans: () => [...store.values()],
    traces,
    trace: (id) => traces().find((trace) => trace.id === id),
    waitForTraces(count, timeoutMs = 5000) {
      return new Promise((resolve, rejectWait) => {
        const check = (): boolean => {
          if (traceCount() < count) return false;
          clearTimeout(timer);
          waiters = waiters.filter((wake) => wake !== onAccepted);
          resolve(traces());
          return true;
        };
        const onAccepted = (): void => { check(); };
        const timer = setTimeout(() => {
          waiters = waiters.filter((wake) => wake !== onAccepted);
          const lastRejection = rejections.at(-1);
          rejectWait(new Error(`fake Langfuse: expected ${count} trace(s) within ${timeoutMs} ms, have ${traceCount()}; `
            + `${requestCount} request(s), statuses ${JSON.stringify(statusCounts)}`
            + (lastRejection ? `; last rejection ${lastRejection.status}: ${lastRejection.message}` : '')));
        }, timeoutMs);
        if (!check()) waiters.push(onAccepted);
      });
    },
    maxDeliveries: () => Math.max(0, ...[...store.values()].map((span) => span.deliveries)),
    reset() {
      store = new Map();
      requestCount = 0;
      statusCounts = {};
      rejections = [];
      acceptedRequests = [];
      setMode('ok');
    },
    async close() {
      closed = true;
      await stop();
    },
  };
}
