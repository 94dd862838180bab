// A plain static file server, as S3 behind CloudFront is in docs/deploy-s3.md: files
// from one folder, index.html for unknown paths (client-side routes), the right
// Content-Type for .wasm, and what that page documents for delivery:
//   - FILE.br (or FILE.gz) instead of FILE, with `Content-Encoding: br` (gzip) and FILE's
//     Content-Type, when the browser accepts it and the export has that copy (the
//     CloudFront Function's rewrite for /pkg/*, CloudFront's own compression for
//     index.html);
//   - `Cache-Control: public, max-age=31536000, immutable` for the content-hashed files
//     under /pkg/, `no-cache` for .html and .json (index.html, config.json), a day for
//     the rest (favicon.svg, robots.txt);
//   - an ETag (the body's MD5, as S3's for a single-part upload), and 304 Not Modified
//     when If-None-Match names it;
//   - the security headers of its response headers policy (Content-Security-Policy,
//     X-Frame-Options, Referrer-Policy, nosniff).
// Usage: node static-server.mjs DIR [PORT] [HOST]
import { createHash } from 'node:crypto';
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

// knock.<16 hex digits>.css and <16 hex digits>/<file>, as scripts/prepare-site.mjs names them.
const HASHED = /^\/pkg\/([^/]+\.[0-9a-f]{16}\.[a-z0-9]+|[0-9a-f]{16}\/[^/]+\.[a-z0-9]+)$/;

function cacheControl(urlPath, ext) {
  if (HASHED.test(urlPath)) return 'public, max-age=31536000, immutable';
  if (ext === '.html' || ext === '.json' || urlPath.startsWith('/pkg/')) return 'no-cache';
  return 'public, max-age=86400';
}

/** The precompressed copy to send instead of `path`, if the browser takes it and it exists. */
async function encoded(path, acceptEncoding = '') {
  const accepted = acceptEncoding.split(',').map((part) => part.split(';')[0].trim().toLowerCase());
  for (const [encoding, suffix] of [['br', '.br'], ['gzip', '.gz']]) {
    if (!accepted.includes(encoding)) continue;
    try {
      if ((await stat(path + suffix)).isFile()) return { encoding, file: path + suffix };
    } catch {
      // No such copy: try the next.
    }
  }
  return { encoding: null, file: path };
}

/**
 * The security headers docs/deploy-s3.md sets on the static host (a CloudFront response
 * headers policy): the Content-Security-Policy the client runs under, with the hash of
 * the page's inline script and the API server of config.json as what it may connect to,
 * no framing and no referrer.
 */
async function securityHeaders(root) {
  const page = await readFile(join(root, 'index.html'), 'utf8');
  const script = page.match(/<script type="module">([\s\S]*?)<\/script>/)?.[1] ?? '';
  const hash = createHash('sha256').update(script).digest('base64');
  const { serverUrl = '' } = JSON.parse(await readFile(join(root, 'config.json'), 'utf8'));
  let connect = "'self'";
  if (serverUrl) {
    const api = new URL(serverUrl);
    const ws = `${api.protocol === 'https:' ? 'wss' : 'ws'}://${api.host}`;
    connect += ` ${api.origin} ${ws}`;
  }
  return {
    'Content-Security-Policy':
      `default-src 'self'; script-src 'self' 'wasm-unsafe-eval' 'sha256-${hash}'; style-src 'self'; ` +
      `img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; ` +
      `frame-ancestors 'none'; connect-src ${connect}`,
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    'X-Content-Type-Options': 'nosniff',
  };
}

/** Starts the server; resolves to the Node http.Server once it listens. */
export async function startStaticServer(dir, port = 0, host = '127.0.0.1') {
  const root = resolve(dir);
  const security = await securityHeaders(root);
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
      const { encoding, file } = await encoded(path, req.headers['accept-encoding']);
      const body = await readFile(file);
      const ext = extname(path);
      const urlPath = fallback ? '/index.html' : new URL(req.url ?? '/', 'http://x').pathname;
      const etag = `"${createHash('md5').update(body).digest('hex')}"`;
      const headers = {
        ...security,
        'Cache-Control': cacheControl(urlPath, ext),
        ETag: etag,
        Vary: 'Accept-Encoding',
        ...(encoding ? { 'Content-Encoding': encoding } : {}),
      };
      if (req.headers['if-none-match'] === etag) {
        res.writeHead(304, headers).end();
        return;
      }
      res.writeHead(200, {
        'Content-Type': TYPES[ext] ?? 'application/octet-stream',
        'Content-Length': body.length,
        ...headers,
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
