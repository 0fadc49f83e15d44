// undici's Pool and its request API, and nothing else of undici. `import { Pool } from 'undici'` runs undici's
// index, which loads all of it (fetch, WebSocket, caches, mocks, HTTP/2, and through them Node's own bundled
// undici): per thread that imports it, about 3 MB more live heap and 7 MB more committed than these two modules
// (the gateway imports it in the request thread and in the trace worker). The wiring is the index's own: the
// API (request, stream, ...) assigned onto Dispatcher.prototype. test/gateway-footprint.test.ts checks that
// this Pool is undici's exported one and that the gateway loads neither undici's index nor Node's bundled copy.
import { createRequire } from 'node:module';
import type { Pool as UndiciPool } from 'undici';

const require = createRequire(import.meta.url);
const Dispatcher = require('undici/lib/dispatcher/dispatcher.js') as { prototype: Record<string, unknown> };
if (typeof Dispatcher.prototype.request !== 'function') Object.assign(Dispatcher.prototype, require('undici/lib/api/index.js'));

export const Pool = require('undici/lib/dispatcher/pool.js') as typeof UndiciPool;
export type Pool = UndiciPool;
