// Maps call records to an OTLP/JSON trace request for Langfuse: one trace per call whose root span
// is the generation (../../shared/contracts/langfuse-otel-attributes.md, followed attribute by attribute).
import { createHash } from 'node:crypto';
import { LANGFUSE_SDK_VERSION, LangfuseOtelSpanAttributes as A } from '@langfuse/core';
import type { LlmCall } from '../calls/llm-call.ts';
import { inputAndParameters, outputMessage, usageDetails } from './generation-fields.ts';
import { attributeList, unixNanos } from './otlp-values.ts';
import type { OtlpKeyValue, Scalar } from './otlp-values.ts';

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

const sha256Hex = (text: string) => createHash('sha256').update(text).digest('hex');

/** The Langfuse trace id: the call id when it already is 32 hex digits (the LlmCall contract). */
export function traceIdOf(callId: string): string {
  const lower = callId.toLowerCase();
  return /^[0-9a-f]{32}$/.test(lower) ? lower : sha256Hex(callId).slice(0, 32);
}

/** Derived, not random, so a resent batch upserts the same observation instead of adding one. */
export function generationSpanIdOf(callId: string): string {
  return sha256Hex(`${callId}:generation`).slice(0, 16);
}

export function toOtlpSpan(call: LlmCall, options: SpanOptions): OtlpSpan {
  const attributes = attributeList();
  const { set, json } = attributes;
  const name = call.name || call.endpoint;
  set(A.TRACE_NAME, name);
  set(A.OBSERVATION_TYPE, call.endpoint === 'embeddings' ? 'embedding' : 'generation');
  set(A.TRACE_COMPAT_USER_ID, call.userId);
  set(A.TRACE_USER_ID, call.userId);
  set(A.TRACE_COMPAT_SESSION_ID, call.sessionId);
  set(A.TRACE_SESSION_ID, call.sessionId);
  if (call.tags.length > 0) set(A.TRACE_TAGS, call.tags);
  set(A.ENVIRONMENT, options.environment);
  set(A.RELEASE, options.release);
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

  const observationMetadata: Record<string, Scalar | undefined> = {
    requested_model: call.requestedModel,
    provider: call.provider,
    generation_id: call.generationId,
    endpoint: call.endpoint,
    http_status: call.status,
    outcome: call.outcome,
    stream: call.stream,
    finish_reason: call.output?.finishReason,
  };
  for (const [key, value] of Object.entries(call.metadata)) observationMetadata[key] ??= value;
  for (const [key, value] of Object.entries(observationMetadata)) set(`${A.OBSERVATION_METADATA}.${key}`, value);
  // Also on the trace, where Langfuse lets one filter by them.
  set(`${A.TRACE_METADATA}.generation_id`, call.generationId);
  set(`${A.TRACE_METADATA}.requested_model`, call.requestedModel);
  set(`${A.TRACE_METADATA}.endpoint`, call.endpoint);
  set(A.IS_APP_ROOT, true);

  return {
    traceId: traceIdOf(call.id),
    spanId: generationSpanIdOf(call.id),
    name,
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

export function toOtlpEnvelope(spans: OtlpSpan[], options: SpanOptions): OtlpTraceRequest {
  const resource = attributeList();
  resource.set('service.name', options.serviceName);
  resource.set('service.version', options.serviceVersion);
  resource.set('telemetry.sdk.language', 'nodejs');
  return {
    resourceSpans: [{
      resource: { attributes: resource.list },
      scopeSpans: [{ scope: { name: 'langfuse-sdk', version: LANGFUSE_SDK_VERSION }, spans }],
    }],
  };
}

export function toOtlpRequest(calls: LlmCall[], options: SpanOptions): OtlpTraceRequest {
  return toOtlpEnvelope(calls.map((call) => toOtlpSpan(call, options)), options);
}
