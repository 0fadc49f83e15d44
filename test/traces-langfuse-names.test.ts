// The Langfuse names the worker writes as plain strings (src/traces/langfuse-names.ts) are the package's own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LANGFUSE_SDK_NAME, LANGFUSE_SDK_VERSION, LangfuseOtelSpanAttributes } from '@langfuse/core';
import { LangfuseAttributes, langfuseSdkName, langfuseSdkVersion } from '../src/traces/langfuse-names.ts';

test('every attribute name is the one @langfuse/core defines under the same key', () => {
  const fromPackage = LangfuseOtelSpanAttributes as unknown as Record<string, string>;
  for (const [key, name] of Object.entries(LangfuseAttributes)) assert.equal(name, fromPackage[key], key);
});

test('the SDK name and version are the ones @langfuse/core reports', () => {
  assert.equal(langfuseSdkName, LANGFUSE_SDK_NAME);
  assert.equal(langfuseSdkVersion, LANGFUSE_SDK_VERSION);
});
