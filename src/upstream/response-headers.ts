// Which upstream response headers reach the client: everything but hop-by-hop headers, cookies and CORS
// (we answer CORS ourselves); retry-after and x-ratelimit-* must pass (../shared/contracts/clients.md).
import type { IncomingHttpHeaders } from 'node:http';

const dropped = new Set([
  'connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authenticate',
  'proxy-authorization', 'set-cookie', 'content-length', 'date', 'server', 'alt-svc',
]);

export function forwardableHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || dropped.has(name) || name.startsWith('access-control-')) continue;
    out[name] = value;
  }
  return out;
}

export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The headers a client needs to back off, kept when an unreadable upstream answer becomes our own error. */
export function backoffHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || (name !== 'retry-after' && !name.startsWith('x-ratelimit-'))) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}
