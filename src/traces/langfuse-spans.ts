// Maps call records to an OTLP/JSON trace request for Langfuse: one trace per call whose root span
// is the generation (../../shared/contracts/langfuse-otel-attributes.md, followed attribute by attribute).
import { hash } from 'node:crypto';
import { LangfuseAttributes as A, langfuseSdkVersion } from './langfuse-names.ts';
import { callFactMetadataKeys } from '../calls/llm-call.ts';
import type { CallFactMetadataKey, LlmCall } from '../calls/llm-call.ts';
import { inputAndParameters, outputMessage, usageDetails } from './generation-fields.ts';
import { attributeJson, attributeList, rememberStrings, unixNanos } from './otlp-values.ts';
import type { AttributeSink, OtlpKeyValue, Scalar } from './otlp-values.ts';

export interface SpanOptions {
  environment?: string;
  release?: string;
  serviceName: string;
  serviceVersion: string;
}

export interface OtlpSpan {
  traceId: string;
  spanId: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: OtlpKeyValue[];
  events: [];
  status: { code: 0 } | { code: 2; message?: string };
  links: [];
  flags: number;
}

export interface OtlpTraceRequest {
  resourceSpans: {
    resource: { attributes: OtlpKeyValue[] };
    scopeSpans: { scope: { name: string; version: string }; spans: OtlpSpan[] }[];
  }[];
}

const sha256Hex = (text: string) => hash('sha256', text, 'hex');

/** The Langfuse trace id: the call id when it already is 32 hex digits (the LlmCall contract). */
export function traceIdOf(callId: string): string {
  const lower = callId.toLowerCase();
  return /^[0-9a-f]{32}$/.test(lower) ? lower : sha256Hex(callId).slice(0, 32);
}

/** Derived, not random, so a resent batch upserts the same observation instead of adding one. */
export function generationSpanIdOf(callId: string): string {
  return sha256Hex(`${callId}:generation`).slice(0, 16);
}

/** `langfuse.observation.metadata.<key>`. */
const observationMetadataKey = rememberStrings((key) => `${A.OBSERVATION_METADATA}.${key}`);
/** `langfuse.trace.metadata.<key>`. */
const traceMetadataKey = rememberStrings((key) => `${A.TRACE_METADATA}.${key}`);

/** Writes the generation's attributes, in the contract's order, to `attributes`. */
function writeAttributes(call: LlmCall, options: SpanOptions, attributes: AttributeSink): void {
  const { set, json } = attributes;
  set(A.TRACE_NAME, call.name || call.endpoint);
  set(A.OBSERVATION_TYPE, call.endpoint === 'embeddings' ? 'embedding' : 'generation');
  set(A.TRACE_COMPAT_USER_ID, call.userId);
  set(A.TRACE_USER_ID, call.userId);
  set(A.TRACE_COMPAT_SESSION_ID, call.sessionId);
  set(A.TRACE_SESSION_ID, call.sessionId);
  if (call.tags.length > 0) set(A.TRACE_TAGS, call.tags);
  // The values the call was made under; records journaled before they were kept fall back to the current ones.
  set(A.ENVIRONMENT, call.environment ?? options.environment);
  set(A.RELEASE, call.release ?? options.release);
  set(A.OBSERVATION_MODEL, call.model ?? call.requestedModel);

  const { input, modelParameters } = inputAndParameters(call);
  json(A.OBSERVATION_MODEL_PARAMETERS, modelParameters);
  json(A.OBSERVATION_INPUT, input);
  json(A.OBSERVATION_OUTPUT, outputMessage(call.output));
  json(A.OBSERVATION_USAGE_DETAILS, usageDetails(call.usage));
  if (call.cost !== undefined && Number.isFinite(call.cost) && call.cost >= 0) {
    json(A.OBSERVATION_COST_DETAILS, { total: call.cost });
  }
  if (call.completionStartTime !== undefined) {
    // A JSON-quoted ISO string, exactly what the JS SDK sends.
    json(A.OBSERVATION_COMPLETION_START_TIME, new Date(call.completionStartTime).toISOString());
  }
  set(A.OBSERVATION_LEVEL, call.level);
  set(A.OBSERVATION_STATUS_MESSAGE, call.statusMessage);

  // Keys the gateway writes itself: a client key of the same name never replaces them, on the generation or on
  // the trace (where the gateway's value is absent, the key stays empty rather than show the client's). Typed
  // against the one list of them, which also keeps them out of new records' client metadata (call-identity.ts);
  // the filter below still guards records journaled before that.
  const gatewayMetadata: Record<CallFactMetadataKey, Scalar | undefined> = {
    requested_model: call.requestedModel,
    provider: call.provider,
    generation_id: call.generationId,
    endpoint: call.endpoint,
    http_status: call.status,
    outcome: call.outcome,
    stream: call.stream,
    finish_reason: call.output?.finishReason,
  };
  const clientMetadata = Object.entries(call.metadata).filter(([key]) => !(key in gatewayMetadata));
  for (const key of callFactMetadataKeys) set(observationMetadataKey(key), gatewayMetadata[key]);
  for (const [key, value] of clientMetadata) set(observationMetadataKey(key), value);
  // Also on the trace, where Langfuse lets one filter by them: the call's own metadata (the client's and its
  // user agent) and the ids (one attribute per key).
  for (const [key, value] of clientMetadata) set(traceMetadataKey(key), value);
  set(traceMetadataKey('generation_id'), call.generationId);
  set(traceMetadataKey('requested_model'), call.requestedModel);
  set(traceMetadataKey('endpoint'), call.endpoint);
  set(A.IS_APP_ROOT, true);
}

export function toOtlpSpan(call: LlmCall, options: SpanOptions): OtlpSpan {
  const attributes = attributeList();
  writeAttributes(call, options, attributes);
  return {
    traceId: traceIdOf(call.id),
    spanId: generationSpanIdOf(call.id),
    name: call.name || call.endpoint,
    kind: 1,
    startTimeUnixNano: unixNanos(call.startTime),
    endTimeUnixNano: unixNanos(Math.max(call.endTime, call.startTime)),
    attributes: attributes.list,
    events: [],
    status: call.level === 'ERROR' ? { code: 2, message: call.statusMessage } : { code: 0 },
    links: [],
    flags: 257,
  };
}

/** `JSON.stringify(toOtlpSpan(call, options))`, written directly (the shipper's path: no span objects). */
export function otlpSpanJson(call: LlmCall, options: SpanOptions): string {
  const attributes = attributeJson();
  writeAttributes(call, options, attributes);
  const status = call.level !== 'ERROR' ? '{"code":0}'
    : call.statusMessage === undefined ? '{"code":2}' : `{"code":2,"message":${JSON.stringify(call.statusMessage)}}`;
  return `{"traceId":"${traceIdOf(call.id)}","spanId":"${generationSpanIdOf(call.id)}","name":${JSON.stringify(call.name || call.endpoint)},`
    + `"kind":1,"startTimeUnixNano":"${unixNanos(call.startTime)}","endTimeUnixNano":"${unixNanos(Math.max(call.endTime, call.startTime))}",`
    + `"attributes":${attributes.text()},"events":[],"status":${status},"links":[],"flags":257}`;
}

export function toOtlpEnvelope(spans: OtlpSpan[], options: SpanOptions): OtlpTraceRequest {
  const resource = attributeList();
  resource.set('service.name', options.serviceName);
  resource.set('service.version', options.serviceVersion);
  resource.set('telemetry.sdk.language', 'nodejs');
  return {
    resourceSpans: [{
      resource: { attributes: resource.list },
      scopeSpans: [{ scope: { name: 'langfuse-sdk', version: langfuseSdkVersion }, spans }],
    }],
  };
}

export function toOtlpRequest(calls: LlmCall[], options: SpanOptions): OtlpTraceRequest {
  return toOtlpEnvelope(calls.map((call) => toOtlpSpan(call, options)), options);
}

const comma = Buffer.from(',');

/**
 * `JSON.stringify(toOtlpEnvelope(spans))` as UTF-8, for spans already written by `otlpSpanJson` and kept as UTF-8
 * bytes (outside the JavaScript heap while they wait for delivery: the garbage collector never copies them).
 */
export function otlpEnvelopeBytes(spans: Buffer[], options: SpanOptions): Buffer {
  const envelope = JSON.stringify(toOtlpEnvelope([], options));
  const at = envelope.lastIndexOf('"spans":[]') + '"spans":['.length;
  const parts: Buffer[] = [Buffer.from(envelope.slice(0, at))];
  spans.forEach((span, index) => { if (index > 0) parts.push(comma); parts.push(span); });
  parts.push(Buffer.from(envelope.slice(at)));
  return Buffer.concat(parts);
}
