// The viewer's browser files (../../ui/), read once at start-up and served as they are: no build step, no CDN.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ViewerAsset {
  body: Buffer;
  contentType: string;
  etag: string;
}

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/**
 * `ui/` sits at the package root, so this one URL resolves from `src/viewer/` (node runs the .ts
 * files) and from `dist/viewer/` (`npm start` runs the compiled ones).
 */
export const defaultAssetsDir = new URL('../../ui/', import.meta.url);

/** Every servable file of the folder by name; `index.html` is the page itself. */
export function loadViewerAssets(dir: URL = defaultAssetsDir): Map<string, ViewerAsset> {
  const path = fileURLToPath(dir);
  let names: string[];
  try {
    names = readdirSync(path);
  } catch (error) {
    throw new Error(`The trace viewer's files are missing (${path}): ${(error as Error).message}`, { cause: error });
  }
  const assets = new Map<string, ViewerAsset>();
  for (const name of names) {
    const contentType = contentTypes[extname(name)];
    if (!contentType) continue;
    const body = readFileSync(new URL(name, dir));
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
    assets.set(name, { body, contentType, etag });
  }
  if (!assets.has('index.html')) throw new Error(`The trace viewer's page is missing: ${path}index.html`);
  return assets;
}
