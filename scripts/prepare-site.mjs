#!/usr/bin/env node
// Prepares the web client in target/site for delivery, once per build, after the release
// build (scripts/build.sh runs it):
//
//   node scripts/prepare-site.mjs [SITE_DIR]      (default: target/site)
//
// 1. Content-addressed copies, which browsers and CDNs may keep for a year
//    (`Cache-Control: public, max-age=31536000, immutable`); a new build gives new names.
//    - The client's modules go to pkg/<build>/ under their own names: knock.js (the
//      wasm-bindgen glue), knock.wasm and, in a split build, the loader
//      __wasm_split.*.js and the modules it loads (split_*.wasm, chunk_*.wasm). They
//      name each other by relative paths, so they move together, unchanged; <build> is
//      the first 16 hex digits of a SHA-256 of all of them.
//    - The stylesheet is copied to pkg/knock.<first 16 hex digits of its SHA-256>.css.
//    Copies of earlier builds are removed.
// 2. index.html, written from the page shell frontend/index.html with those names.
//    It is the only file that names them, and is served with `no-cache`.
// 3. Precompressed copies beside every compressible file (js, wasm, css, html, svg):
//    FILE.br (brotli, quality 11) and FILE.gz (gzip, level 9), kept only when smaller
//    than FILE. The one-box server (tower-http's ServeDir), nginx's gzip_static and the
//    S3 upload in docs/deploy-s3.md serve them as they are; nothing compresses per request.
//    config.json is left alone: it is edited at deploy time.
//
// The files at the top of pkg/ stay as they are, for `cargo leptos watch` (which serves
// the page shell built into the server; `cargo leptos build` and `watch` empty
// target/site first, so a prepared index.html never outlives its build). Running it
// twice is harmless: what did not change is not rewritten, and every write goes through
// a temporary file and a rename, so a server serving the folder meanwhile never sees
// half a file.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SITE = resolve(process.argv[2] ?? join(REPO, 'target', 'site'));
const PKG = join(SITE, 'pkg');
const SHELL = join(REPO, 'frontend', 'index.html');
const NAME = 'knock';
const COMPRESSIBLE = /\.(js|wasm|css|html|svg)$/;
// What cargo-leptos writes to pkg/ beside knock.js and knock.wasm in a split build.
const SPLIT_MODULE = /^(__wasm_split\..*\.js|(split|chunk)_.*\.wasm)$/;
// What step 1 writes: pkg/<build>/ and knock.<16 hex>.css (optionally .br or .gz).
const BUILD_DIR = /^[0-9a-f]{16}$/;
const HASHED_CSS = new RegExp(`^${NAME}\\.[0-9a-f]{16}\\.css(\\.br|\\.gz)?$`);

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

for (const name of [`${NAME}.js`, `${NAME}.wasm`, `${NAME}.css`]) {
  if (!existsSync(join(PKG, name))) {
    fail(`${relative(REPO, join(PKG, name))} is missing: run scripts/build.sh first`);
  }
}

// 1. Content-addressed copies: the modules, then the stylesheet.
const modules = [`${NAME}.js`, `${NAME}.wasm`, ...readdirSync(PKG).filter((name) => SPLIT_MODULE.test(name)).sort()];
const buildHash = createHash('sha256');
for (const name of modules) {
  const body = readFileSync(join(PKG, name));
  buildHash.update(`${name}\0${body.length}\0`).update(body);
}
const build = buildHash.digest('hex').slice(0, 16);
mkdirSync(join(PKG, build), { recursive: true });
for (const name of modules) writeIfChanged(join(PKG, build, name), readFileSync(join(PKG, name)));
const css = readFileSync(join(PKG, `${NAME}.css`));
const cssName = `${NAME}.${createHash('sha256').update(css).digest('hex').slice(0, 16)}.css`;
writeIfChanged(join(PKG, cssName), css);
for (const entry of readdirSync(PKG, { withFileTypes: true })) {
  const earlier = entry.isDirectory()
    ? BUILD_DIR.test(entry.name) && entry.name !== build
    : HASHED_CSS.test(entry.name) && entry.name.replace(/\.(br|gz)$/, '') !== cssName;
  if (earlier) rmSync(join(PKG, entry.name), { recursive: true, force: true });
}

// 2. index.html naming them.
const names = {
  [`/pkg/${NAME}.js`]: `/pkg/${build}/${NAME}.js`,
  [`/pkg/${NAME}.wasm`]: `/pkg/${build}/${NAME}.wasm`,
  [`/pkg/${NAME}.css`]: `/pkg/${cssName}`,
};
let shell = readFileSync(SHELL, 'utf8');
for (const [unhashed, named] of Object.entries(names)) {
  if (!shell.includes(unhashed)) fail(`${relative(REPO, SHELL)} does not reference ${unhashed}`);
  shell = shell.split(unhashed).join(named);
}
writeIfChanged(join(SITE, 'index.html'), Buffer.from(shell));

// 3. Precompressed copies, rewritten only when missing or older than their file. The
// files at the top of pkg/ are skipped: only the development shell loads them.
const unhashed = new Set([...modules, `${NAME}.css`].map((name) => join(PKG, name)));
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

const size = (path) => (existsSync(join(PKG, path)) ? statSync(join(PKG, path)).size : '-');
console.error(
  `prepare-site: ${relative(REPO, SITE).startsWith('..') ? SITE : relative(REPO, SITE)}: ` +
    [...modules.map((name) => `${build}/${name}`), cssName]
      .map((path) => `${path} (${size(path)} B, br ${size(`${path}.br`)} B, gz ${size(`${path}.gz`)} B)`)
      .join(', ') +
    `; index.html; ${written} compressed file(s) written`,
);
