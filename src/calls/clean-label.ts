// Session, user, tag and name values come from clients: they are cleaned before they reach a header,
// a log line or a trace (control characters, CR/LF, invisible format characters, excessive length).

const unsafe = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\uFFFD]+/gu;
const lone = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Returns the cleaned value (at most `maxLength` code points), or undefined when nothing usable is left. */
export function cleanLabel(value: unknown, maxLength = 200): string | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) value = String(value);
  if (typeof value !== 'string') return undefined;
  // Bound the work on huge inputs first; a surrogate pair cut here is removed as a lone half below.
  const head = value.length > maxLength * 4 ? value.slice(0, maxLength * 4) : value;
  const text = head.replace(lone, '').replace(unsafe, ' ').replace(/\s+/g, ' ').trim();
  const cut = text.length > maxLength ? Array.from(text).slice(0, maxLength).join('').trim() : text;
  return cut || undefined;
}

export function cleanTags(values: Iterable<unknown>, maxTags = 20): string[] {
  const tags = new Set<string>();
  for (const value of values) {
    const tag = cleanLabel(value, 64);
    if (tag) tags.add(tag);
    if (tags.size >= maxTags) break;
  }
  return [...tags];
}
