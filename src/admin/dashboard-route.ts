// The dashboard's static files (src/admin/dashboard/: HTML, JS, CSS, no build step). They hold no
// data, so they are served without the token; the page sends the token with its data requests.
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ServerResponse } from 'node:http';

const ASSETS: Readonly<Record<string, { file: string; type: string }>> = {
  '/dashboard': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

// Next to this module when run from src/ (tsx); from dist/admin/, tsc does not copy them: use src/.
const DIRS = [new URL('./dashboard/', import.meta.url), new URL('../../src/admin/dashboard/', import.meta.url)].map((u) => fileURLToPath(u));
const cache = new Map<string, Buffer>();

export function isDashboardAsset(method: string | undefined, path: string): boolean {
  return (method === 'GET' || method === 'HEAD') && path in ASSETS;
}

export async function sendDashboardAsset(res: ServerResponse, path: string): Promise<void> {
  const asset = ASSETS[path];
  let body = cache.get(asset.file);
  if (!body) {
    const dir = DIRS.find((d) => existsSync(d + asset.file));
    if (!dir) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`dashboard file ${asset.file} is missing from this installation\n`);
      return;
    }
    body = await readFile(dir + asset.file);
    cache.set(asset.file, body);
  }
  res.writeHead(200, {
    'content-type': asset.type,
    'content-length': body.length,
    'cache-control': 'no-cache',
    // The page only talks to this origin and loads nothing else.
    'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'",
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  });
  res.end(body);
}
