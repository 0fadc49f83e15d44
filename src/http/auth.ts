// Gateway key check: `x-api-key` (the seed) or `Authorization: Bearer` (so n8n needs no custom header).
// n8n may send both, with junk in the bearer (../shared/contracts/clients.md): either one valid is enough.
import { hash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { errors } from '../errors.ts';
import { createFailureThrottle } from './failure-throttle.ts';

export interface AuthOptions {
  apiKeys: string[];
  /** Paths that need no key (the public service info and the viewer's static page). */
  isPublic: (path: string) => boolean;
  failures: { limit: number; windowMs: number };
  now?: () => number;
}

const digest = (value: string) => hash('sha256', value, 'buffer');

export function createAuthHook(options: AuthOptions) {
  if (options.apiKeys.length === 0) throw new Error('createAuthHook needs at least one key');
  // Compare fixed-size digests so neither the key's length nor its content leaks through timing.
  const keyDigests = options.apiKeys.map(digest);
  const throttle = createFailureThrottle({ ...options.failures, now: options.now ?? Date.now });

  const isValid = (candidate: string | undefined): boolean => {
    if (!candidate) return false;
    const d = digest(candidate);
    let ok = false;
    for (const key of keyDigests) ok = timingSafeEqual(d, key) || ok;
    return ok;
  };

  return async function authHook(request: FastifyRequest): Promise<void> {
    if (request.method === 'OPTIONS' && request.headers['access-control-request-method']) return;
    const path = request.url.split('?', 1)[0] ?? '/';
    if (options.isPublic(path)) return;
    const headerKey = request.headers['x-api-key'];
    if (isValid(Array.isArray(headerKey) ? headerKey[0] : headerKey)) return;
    if (isValid(bearerToken(request.headers.authorization))) return;
    const retryAfterS = throttle.fail(request.ip);
    if (retryAfterS > 0) throw errors.tooManyAuthFailures(retryAfterS);
    throw errors.unauthorized();
  };
}

export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^\s*Bearer\s+(.+?)\s*$/i.exec(header);
  return match?.[1];
}
