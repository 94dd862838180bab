#!/usr/bin/env node
// Prepares the web client in target/site for delivery, once per build, after
// `cargo leptos build --release`:
//
//   node scripts/prepare-site.mjs [SITE_DIR]      (default: target/site)
//
// 1. Content-hashed copies of the client's files: pkg/knock.js, pkg/knock.wasm and
//    pkg/knock.css are copied to pkg/knock.<first 16 hex digits of their SHA-256>.<ext>.
//    A new build gives new names, so browsers and CDNs may keep these for a year
//    (`Cache-Control: public, max-age=31536000, immutable`). Hashed copies of earlier
//    builds are removed.
// 2. index.html, written from the page shell frontend/index.html with the hashed names.
//    It is the only file that names them, and is served with `no-cache`.
// 3. Precompressed copies beside every compressible file (js, wasm, css, html, svg):
//    FILE.br (brotli, quality 11) and FILE.gz (gzip, level 9), kept only when smaller
//    than FILE. The one-box server (tower-http's ServeDir), nginx's gzip_static and the
//    S3 upload in docs/deploy-s3.md serve them as they are; nothing compresses per request.
//    config.json is left alone: it is edited at deploy time.
//
// The unhashed pkg/knock.{js,wasm,css} stay as they are, for `cargo leptos watch` (which
// serves the page shell built into the server; `cargo leptos build` and `watch` empty
// target/site first, so a prepared index.html never outlives its build). Running it
// twice is harmless: what did not change is not rewritten, and every write goes through
// a temporary file and a rename, so a server serving the folder meanwhile never sees
// half a file.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SITE = resolve(process.argv[2] ?? join(REPO, 'target', 'site'));
const PKG = join(SITE, 'pkg');
const SHELL = join(REPO, 'frontend', 'index.html');
const NAME = 'knock';
const HASHED = ['js', 'wasm', 'css'];
const COMPRESSIBLE = /\.(js|wasm|css|html|svg)$/;
// knock.<16 hex>.<ext>, optionally .br or .gz: what step 1 writes.
const HASHED_NAME = new RegExp(`^${NAME}\\.[0-9a-f]{16}\\.(${HASHED.join('|')})(\\.br|\\.gz)?$`);

function fail(message) {
  console.error(`prepare-site: ${message}`);
  process.exit(1);
}

/** Writes through a temporary file and a rename (atomic for readers). */
function writeAtomic(path, body) {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, body);
  renameSync(tmp, path);
}

/** Writes `path` unless it already holds exactly `body`. */
function writeIfChanged(path, body) {
  if (existsSync(path) && readFileSync(path).equals(body)) return false;
  writeAtomic(path, body);
  return true;
}

function filesUnder(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(path) : entry.isFile() ? [path] : [];
  });
}

for (const ext of HASHED) {
  if (!existsSync(join(PKG, `${NAME}.${ext}`))) {
    fail(`${relative(REPO, join(PKG, `${NAME}.${ext}`))} is missing: run \`cargo leptos build --release\` first`);
  }
}

// 1. Hashed copies.
const hashedNames = {};
for (const ext of HASHED) {
  const body = readFileSync(join(PKG, `${NAME}.${ext}`));
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 16);
  hashedNames[ext] = `${NAME}.${hash}.${ext}`;
  writeIfChanged(join(PKG, hashedNames[ext]), body);
}
const current = new Set(Object.values(hashedNames));
for (const name of readdirSync(PKG)) {
  const match = HASHED_NAME.exec(name);
  if (match && !current.has(name.replace(/\.(br|gz)$/, ''))) rmSync(join(PKG, name), { force: true });
}

// 2. index.html naming them.
let shell = readFileSync(SHELL, 'utf8');
for (const ext of HASHED) {
  const unhashed = `/pkg/${NAME}.${ext}`;
  if (!shell.includes(unhashed)) fail(`${relative(REPO, SHELL)} does not reference ${unhashed}`);
  shell = shell.split(unhashed).join(`/pkg/${hashedNames[ext]}`);
}
writeIfChanged(join(SITE, 'index.html'), Buffer.from(shell));

// 3. Precompressed copies, rewritten only when missing or older than their file. The
// unhashed pkg/knock.* are skipped: only the development shell loads them.
const unhashed = new Set(HASHED.map((ext) => join(PKG, `${NAME}.${ext}`)));
const fresh = (path, suffix) => existsSync(path + suffix) && statSync(path + suffix).mtimeMs >= statSync(path).mtimeMs;
const VARIANTS = [
  ['.br', (body) => brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: body.length } })],
  ['.gz', (body) => gzipSync(body, { level: 9 })],
];
let written = 0;
for (const path of filesUnder(SITE)) {
  if (!COMPRESSIBLE.test(path) || unhashed.has(path)) continue;
  if (VARIANTS.every(([suffix]) => fresh(path, suffix))) continue;
  const body = readFileSync(path);
  for (const [suffix, compress] of VARIANTS) {
    const packed = compress(body);
    if (packed.length < body.length) {
      writeAtomic(path + suffix, packed);
      written += 1;
    } else {
      // Not worth it (a tiny file): serve the file itself.
      rmSync(path + suffix, { force: true });
    }
  }
}

const size = (name) => statSync(join(PKG, name)).size;
console.error(
  `prepare-site: ${relative(REPO, SITE).startsWith('..') ? SITE : relative(REPO, SITE)}: ` +
    HASHED.map((ext) => `${hashedNames[ext]} (${size(hashedNames[ext])} B, br ${size(`${hashedNames[ext]}.br`)} B)`).join(', ') +
    `; index.html; ${written} compressed file(s) written`,
);
