// The Langfuse names the trace worker writes: OTel span attribute names and the SDK's identity. They are plain
// strings here so the worker does not load @langfuse/core's 680 kB bundle (about 5 MB of heap and 160 ms at
// start) for twenty constants. The compiler checks every name against @langfuse/core's own enum, and
// test/traces-langfuse-names.test.ts compares them with the package at run time.
import { readFileSync } from 'node:fs';
import type { LangfuseOtelSpanAttributes, LANGFUSE_SDK_NAME } from '@langfuse/core';

type Attributes = typeof LangfuseOtelSpanAttributes;

export const LangfuseAttributes = {
  TRACE_NAME: 'langfuse.trace.name',
  TRACE_USER_ID: 'user.id',
  TRACE_COMPAT_USER_ID: 'langfuse.user.id',
  TRACE_SESSION_ID: 'session.id',
  TRACE_COMPAT_SESSION_ID: 'langfuse.session.id',
  TRACE_TAGS: 'langfuse.trace.tags',
  TRACE_METADATA: 'langfuse.trace.metadata',
  OBSERVATION_TYPE: 'langfuse.observation.type',
  OBSERVATION_METADATA: 'langfuse.observation.metadata',
  OBSERVATION_LEVEL: 'langfuse.observation.level',
  OBSERVATION_STATUS_MESSAGE: 'langfuse.observation.status_message',
  OBSERVATION_INPUT: 'langfuse.observation.input',
  OBSERVATION_OUTPUT: 'langfuse.observation.output',
  OBSERVATION_MODEL: 'langfuse.observation.model.name',
  OBSERVATION_MODEL_PARAMETERS: 'langfuse.observation.model.parameters',
  OBSERVATION_USAGE_DETAILS: 'langfuse.observation.usage_details',
  OBSERVATION_COST_DETAILS: 'langfuse.observation.cost_details',
  OBSERVATION_COMPLETION_START_TIME: 'langfuse.observation.completion_start_time',
  ENVIRONMENT: 'langfuse.environment',
  RELEASE: 'langfuse.release',
  IS_APP_ROOT: 'langfuse.internal.is_app_root',
} as const satisfies { [K in keyof Attributes]?: `${Attributes[K]}` };

export const langfuseSdkName: typeof LANGFUSE_SDK_NAME = 'javascript';

/** @langfuse/core's version, as its LANGFUSE_SDK_VERSION gives it: from the installed package's package.json. */
export const langfuseSdkVersion: string = installedVersion('@langfuse/core');

/** The nearest package.json above the package's entry file that names it; 'unknown' if none does. */
function installedVersion(name: string): string {
  let dir = new URL('.', import.meta.resolve(name));
  for (let depth = 0; depth < 4; depth += 1, dir = new URL('..', dir)) {
    try {
      const json = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as { name?: string; version?: string };
      if (json.name === name && typeof json.version === 'string') return json.version;
    } catch {
      // no package.json at this level
    }
  }
  return 'unknown';
}
