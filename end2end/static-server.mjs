// A plain static file server, as S3 or any CDN would be: files from one folder,
// index.html for unknown paths (client-side routes), the right Content-Type for
// .wasm. Nothing Knock-specific. Usage: node static-server.mjs DIR [PORT] [HOST]
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};

async function fileFor(root, urlPath) {
  const clean = normalize(decodeURIComponent(urlPath.split('?')[0])).replace(/^(\.\.[/\\])+/, '');
  const path = resolve(join(root, clean));
  if (path !== root && !path.startsWith(root + sep)) return null;
  try {
    const info = await stat(path);
    if (info.isFile()) return path;
    if (info.isDirectory()) {
      const index = join(path, 'index.html');
      if ((await stat(index)).isFile()) return index;
    }
  } catch {
    // Not there: the fallback below answers.
  }
  return null;
}

/** Starts the server; resolves to the Node http.Server once it listens. */
export function startStaticServer(dir, port = 0, host = '127.0.0.1') {
  const root = resolve(dir);
  const server = createServer(async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
      return;
    }
    let path = await fileFor(root, req.url ?? '/');
    // Like an S3 website with index.html as its error document (or CloudFront's
    // custom error response): every unknown path gets the app, which routes itself.
    const fallback = path === null;
    if (fallback) path = join(root, 'index.html');
    try {
      const body = await readFile(path);
      const ext = extname(path);
      res.writeHead(200, {
        'Content-Type': TYPES[ext] ?? 'application/octet-stream',
        'Cache-Control': ext === '.html' || ext === '.json' ? 'no-cache' : 'public, max-age=3600',
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch {
      res.writeHead(404).end('not found');
    }
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => ok(server));
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [dir = '.', port = '8080', host = '127.0.0.1'] = process.argv.slice(2);
  startStaticServer(dir, Number(port), host).then((server) => {
    const { port: actual } = server.address();
    console.log(`serving ${resolve(dir)} on http://${host}:${actual}`);
  });
}
