// Slows down repeated failed authentication from one address, without touching valid clients:
// it is consulted only after a key was found wrong.

export interface FailureThrottleOptions {
  limit: number;
  windowMs: number;
  now: () => number;
  /** Upper bound on tracked addresses, so a flood of spoofed sources cannot grow memory without bound. */
  maxAddresses?: number;
}

export function createFailureThrottle(options: FailureThrottleOptions) {
  const maxAddresses = options.maxAddresses ?? 10_000;
  const windows = new Map<string, { start: number; count: number }>();

  return {
    /** Records a failure; returns the seconds to wait when the address is over the limit, else 0. */
    fail(address: string): number {
      const now = options.now();
      let entry = windows.get(address);
      if (!entry || now - entry.start >= options.windowMs) {
        if (!entry && windows.size >= maxAddresses) {
          const oldest = windows.keys().next().value;
          if (oldest !== undefined) windows.delete(oldest);
        }
        entry = { start: now, count: 0 };
        windows.delete(address);
        windows.set(address, entry);
      }
      entry.count += 1;
      if (entry.count <= options.limit) return 0;
      return Math.max(1, Math.ceil((entry.start + options.windowMs - now) / 1000));
    },
  };
}
