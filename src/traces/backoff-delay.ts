// Exponential backoff with full jitter (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/),
// never shorter than a server's Retry-After (within reason).

export interface BackoffSettings {
  baseMs: number;
  maxMs: number;
  /** Upper bound on an honoured Retry-After, so one odd answer cannot stop shipping for hours. */
  maxRetryAfterMs: number;
}

export function backoffDelay(failures: number, settings: BackoffSettings, random: () => number, retryAfterMs?: number): number {
  const cap = Math.min(settings.maxMs, settings.baseMs * 2 ** Math.min(Math.max(failures - 1, 0), 30));
  const jittered = random() * cap;
  return retryAfterMs === undefined ? jittered : Math.max(jittered, Math.min(retryAfterMs, settings.maxRetryAfterMs));
}
