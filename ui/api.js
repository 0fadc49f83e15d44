// Talks to /api/traces with the gateway key from session storage, sent as a header (never in a URL).

const KEY_NAME = 'llm-gateway.viewer.key';

export const storedKey = () => sessionStorage.getItem(KEY_NAME);
export const storeKey = (key) => sessionStorage.setItem(KEY_NAME, key);
export const forgetKey = () => sessionStorage.removeItem(KEY_NAME);

export class AuthError extends Error {}
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function getJson(path, key = storedKey()) {
  let response;
  try {
    response = await fetch(path, { headers: { 'x-api-key': key ?? '', accept: 'application/json' }, cache: 'no-store' });
  } catch (error) {
    // fetch refuses header values outside Latin-1 before any request is made.
    const reason = error instanceof TypeError && /header/i.test(error.message) ? 'the key contains characters a header cannot carry' : 'the gateway did not answer';
    throw new ApiError(0, `Request failed: ${reason}.`);
  }
  const body = await response.json().catch(() => undefined);
  const message = body?.error?.message ?? `HTTP ${response.status}`;
  if (response.status === 401) throw new AuthError(message);
  if (!response.ok) throw new ApiError(response.status, message);
  return body;
}

export function listCalls(filters, before) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(filters)) if (value) query.set(name, value);
  if (before) query.set('before', String(before));
  query.set('limit', '50');
  return getJson(`/api/traces?${query}`);
}

export const getCall = (id) => getJson(`/api/traces/${encodeURIComponent(id)}`);
