// BASELINE, not the gateway: the barest useful pass-through (node:http in, one undici Pool out, bodies
// piped both ways, nothing parsed, nothing traced). The benchmark divides the gateway's figures by these.
import { createServer } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { Pool } from 'undici';

// Hop-by-hop headers (RFC 9110 §7.6.1) and the client's own credentials stay on their side.
const dropped = new Set(['connection', 'keep-alive', 'transfer-encoding', 'host', 'authorization', 'upgrade', 'te', 'trailer', 'proxy-connection']);
const forward = (headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>) =>
  Object.fromEntries(Object.entries(headers).filter(([name, value]) => value !== undefined && !dropped.has(name))) as Record<string, string | string[]>;

export function startBaselineProxy(upstreamOrigin: string, port = 0): Promise<number> {
  const pool = new Pool(upstreamOrigin, { connections: null, pipelining: 1, keepAliveTimeout: 60_000 });
  const server = createServer({ keepAliveTimeout: 60_000 }, async (req, res) => {
    try {
      const upstream = await pool.request({
        method: req.method === 'GET' ? 'GET' : 'POST',
        path: `/api${req.url ?? '/'}`,
        headers: { ...forward(req.headers), authorization: 'Bearer baseline' },
        body: req.method === 'GET' ? null : req,
      });
      res.writeHead(upstream.statusCode, forward(upstream.headers));
      await pipeline(upstream.body, res);
    } catch {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

if (import.meta.main) {
  const port = await startBaselineProxy(process.env.UPSTREAM_ORIGIN ?? 'http://127.0.0.1:8001', Number(process.env.PORT ?? 0));
  process.send?.({ type: 'ready', port });
  process.on('disconnect', () => process.exit(0));
  // An orderly exit on SIGTERM, so `--cpu-prof` can write its profile.
  process.on('SIGTERM', () => process.exit(0));
}
