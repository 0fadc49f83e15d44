// OTLP/JSON building blocks: typed AnyValues, key-values and nanosecond timestamps.

export type OtlpAnyValue =
  | { stringValue: string }
  | { boolValue: boolean }
  | { intValue: number }
  | { doubleValue: number }
  | { arrayValue: { values: OtlpAnyValue[] } };

export interface OtlpKeyValue {
  key: string;
  value: OtlpAnyValue;
}

export type Scalar = string | number | boolean;

export function anyValue(value: Scalar | string[]): OtlpAnyValue {
  if (Array.isArray(value)) return { arrayValue: { values: value.map((item) => ({ stringValue: item })) } };
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (typeof value === 'number') return Number.isSafeInteger(value) ? { intValue: value } : { doubleValue: value };
  // Records are typed, but a journal row is parsed JSON: never emit an AnyValue Langfuse cannot read.
  return { stringValue: JSON.stringify(value) ?? String(value) };
}

/** Collects attributes, skipping absent values, so mapping code reads as one list. */
export function attributeList() {
  const list: OtlpKeyValue[] = [];
  return {
    list,
    set(key: string, value: Scalar | string[] | undefined | null) {
      if (value === undefined || value === null) return;
      if (typeof value === 'number' && !Number.isFinite(value)) return;
      list.push({ key, value: anyValue(value) });
    },
    /** A JSON-encoded string attribute (the contract's "JSON string"); skipped when undefined. */
    json(key: string, value: unknown) {
      if (value === undefined) return;
      const encoded = JSON.stringify(value);
      if (encoded !== undefined) list.push({ key, value: { stringValue: encoded } });
    },
  };
}

/**
 * Epoch milliseconds (a float with sub-millisecond digits) to OTLP's decimal nanoseconds string.
 * BigInt keeps the 19-digit result exact; the fraction is rounded to microseconds because a
 * double near 1.7e12 carries no more than that.
 */
export function unixNanos(epochMs: number): string {
  const whole = Math.floor(epochMs);
  const micros = Math.round((epochMs - whole) * 1000);
  return (BigInt(whole) * 1_000_000n + BigInt(micros) * 1000n).toString();
}
