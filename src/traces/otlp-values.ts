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
 * Epoch milliseconds (a float with sub-millisecond digits) to OTLP's decimal nanoseconds string, exact:
 * the whole milliseconds followed by six digits. The fraction is rounded to microseconds because a
 * double near 1.7e12 carries no more than that.
 */
export function unixNanos(epochMs: number): string {
  let whole = Math.floor(epochMs);
  let micros = Math.round((epochMs - whole) * 1000);
  if (micros === 1000) {
    whole += 1;
    micros = 0;
  }
  if (whole < 0) return (BigInt(whole) * 1_000_000n + BigInt(micros) * 1000n).toString();
  return whole === 0 ? String(micros * 1000) : `${whole}${String(micros).padStart(3, '0')}000`;
}

export interface AttributeSink {
  set(key: string, value: Scalar | string[] | undefined | null): void;
  /** A JSON-encoded string attribute (the contract's "JSON string"); skipped when undefined. */
  json(key: string, value: unknown): void;
}

/**
 * `make(key)`, remembered for the first 1,000 keys: attribute names repeat on every span, so each is built
 * once and then found again (the same string, cheap to hash); odd keys beyond that are simply rebuilt.
 */
export function rememberStrings(make: (key: string) => string): (key: string) => string {
  const known = new Map<string, string>();
  return (key) => {
    let value = known.get(key);
    if (value === undefined) {
      value = make(key);
      if (known.size < 1000) known.set(key, value);
    }
    return value;
  };
}

/** `{"key":"…","value":` for a key. */
const keyFragment = rememberStrings((key) => `{"key":${JSON.stringify(key)},"value":`);

function anyValueJson(value: Scalar | string[]): string {
  if (typeof value === 'string') return `{"stringValue":${JSON.stringify(value)}}`;
  if (typeof value === 'boolean') return value ? '{"boolValue":true}' : '{"boolValue":false}';
  if (typeof value === 'number') return Number.isSafeInteger(value) ? `{"intValue":${value}}` : `{"doubleValue":${value}}`;
  return JSON.stringify(anyValue(value));
}

/**
 * The same attributes as `attributeList`, written straight to OTLP/JSON text: the shipper's path, where
 * building the objects first and serialising them after cost twice the time (bench/RESULTS.md).
 */
export function attributeJson() {
  const parts: string[] = [];
  return {
    /** The attributes as a JSON array. */
    text: () => `[${parts.join(',')}]`,
    set(key: string, value: Scalar | string[] | undefined | null) {
      if (value === undefined || value === null) return;
      if (typeof value === 'number' && !Number.isFinite(value)) return;
      parts.push(`${keyFragment(key)}${anyValueJson(value)}}`);
    },
    json(key: string, value: unknown) {
      if (value === undefined) return;
      const encoded = JSON.stringify(value);
      if (encoded !== undefined) parts.push(`${keyFragment(key)}{"stringValue":${JSON.stringify(encoded)}}}`);
    },
  };
}
