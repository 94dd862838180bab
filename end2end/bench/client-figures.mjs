// Figures for the web client (a benchmark, not a test), against the one-box server:
//   1. what the browser downloads: the client's files raw, gzip -9 and brotli 11 (the
//      copies scripts/prepare-site.mjs writes), and the 300 KB gzip budget;
//   2. bytes on the wire per page load, as Chromium received them (encoded: compressed
//      bodies plus headers; a file taken from the cache costs nothing), and which
//      requests went to the network;
//   3. time from navigation to an interactive sign-in form (the app is mounted and its
//      inputs and buttons are in the DOM with their handlers; each run then types into
//      it), on localhost and on a throttled connection (Chromium's network emulation:
//      1.6 Mbps down, 750 Kbps up, 150 ms latency), cold (new browser context, empty
//      cache) and warm (the same page loaded again in that context); median of RUNS.
//   4. requests that reached the server in one cold and one warm load (through a
//      counting proxy; it sees the favicon, which the browser fetches on its own).
// Usage (from the repository root, after scripts/build.sh):
//   node end2end/bench/client-figures.mjs [RUNS] [--server BIN] [--json FILE] [--before FILE] [--no-doc]
//     --server BIN   the knock-server binary to measure (default target/release/knock-server)
//     --json FILE    also write the raw results as JSON
//     --before FILE  a JSON written by an earlier run (an older server): shown beside
//     --results FILE do not measure: write the page from a JSON written by --json
//     --label TEXT   what was measured, in words (kept in the JSON, shown on the page)
//     --no-doc       do not write docs/client-figures.md
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { REPO, SERVER_BIN, SITE, THROTTLED, freePort, launchChromium, median, startServer } from './common.mjs';

const PKG = join(SITE, 'pkg');
// The budget in kilobytes of 1,000 bytes (the stricter reading of "300 KB").
const BUDGET_GZIP = 300 * 1000;

function parseArgs(argv) {
  const args = { runs: 9, server: SERVER_BIN, json: null, before: null, results: null, label: null, doc: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--server') args.server = resolve(argv[++i]);
    else if (a === '--json') args.json = resolve(argv[++i]);
    else if (a === '--before') args.before = resolve(argv[++i]);
    else if (a === '--results') args.results = resolve(argv[++i]);
    else if (a === '--label') args.label = argv[++i];
    else if (a === '--no-doc') args.doc = false;
    else if (/^\d+$/.test(a)) args.runs = Number(a);
    else throw new Error(`unknown argument ${a}`);
  }
  return args;
}

/**
 * The client's files of the prepared build: the modules in pkg/<build>/ and the
 * stylesheet; `signIn` marks what the sign-in page needs (the rest, the signed-in pages'
 * module and its loader, is fetched after it is up).
 */
function sizes() {
  const builds = readdirSync(PKG, { withFileTypes: true }).filter((e) => e.isDirectory() && /^[0-9a-f]{16}$/.test(e.name));
  const css = readdirSync(PKG).filter((name) => /^knock\.[0-9a-f]{16}\.css$/.test(name));
  if (builds.length !== 1 || css.length !== 1) throw new Error('run scripts/build.sh (the release build, prepared)');
  const build = builds[0].name;
  const files = [...readdirSync(join(PKG, build)).filter((name) => /\.(wasm|js)$/.test(name)).sort().map((name) => `${build}/${name}`), css[0]];
  const rows = files.map((path) => {
    const body = readFileSync(join(PKG, path));
    const read = (suffix, compress) => (existsSync(join(PKG, path + suffix)) ? readFileSync(join(PKG, path + suffix)).length : compress(body).length);
    const name = path.replace(/^[0-9a-f]{16}\//, '').replace(/^knock\.[0-9a-f]{16}\.css$/, 'knock.css');
    return {
      name,
      signIn: /^knock\.(js|wasm|css)$/.test(name),
      raw: body.length,
      gzip: read('.gz', (b) => gzipSync(b, { level: 9 })),
      brotli: read('.br', (b) => brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } })),
    };
  });
  const sum = (rs) => rs.reduce((t, r) => ({ raw: t.raw + r.raw, gzip: t.gzip + r.gzip, brotli: t.brotli + r.brotli }), { raw: 0, gzip: 0, brotli: 0 });
  return { rows, total: sum(rows), signIn: sum(rows.filter((r) => r.signIn)) };
}

/** A proxy in front of the server that counts the requests reaching it, by path. */
async function countingProxy(targetPort) {
  const seen = [];
  const server = createHttpServer((req, res) => {
    seen.push(req.url);
    const upstream = httpRequest(
      { host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  const port = await freePort();
  await new Promise((ok) => server.listen(port, '127.0.0.1', ok));
  return { url: `http://127.0.0.1:${port}`, seen, close: () => new Promise((ok) => server.close(ok)) };
}

// Records, in the page, when the sign-in form is in the DOM.
const PROBE = `
  new MutationObserver((_, observer) => {
    if (document.querySelector('#username') && document.querySelector('button[type=submit]')) {
      window.__knockReady = performance.now();
      observer.disconnect();
    }
  }).observe(document, { childList: true, subtree: true });
`;

/** One page load: time to the form, and every request as the browser saw it. */
async function load(context, url, throttled) {
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  const requests = new Map();
  const entry = (id) => {
    if (!requests.has(id)) requests.set(id, { url: '', fromCache: false, encoded: 0, status: 0, encoding: null });
    return requests.get(id);
  };
  cdp.on('Network.requestWillBeSent', (e) => {
    entry(e.requestId).url = e.request.url;
  });
  cdp.on('Network.requestServedFromCache', (e) => {
    entry(e.requestId).fromCache = true;
  });
  cdp.on('Network.responseReceived', (e) => {
    const r = entry(e.requestId);
    r.status = e.response.status;
    r.fromCache ||= e.response.fromDiskCache === true;
    const headers = Object.fromEntries(Object.entries(e.response.headers).map(([k, v]) => [k.toLowerCase(), v]));
    r.encoding = headers['content-encoding'] ?? null;
  });
  cdp.on('Network.loadingFinished', (e) => {
    entry(e.requestId).encoded = e.encodedDataLength;
  });
  await cdp.send('Network.enable');
  if (throttled) await cdp.send('Network.emulateNetworkConditions', THROTTLED);
  await page.addInitScript(PROBE);
  await page.goto(url);
  await page.waitForFunction(() => window.__knockReady !== undefined, null, { timeout: 60_000 });
  await page.getByLabel('Username').fill('probe');
  const ms = await page.evaluate(() => window.__knockReady);
  // Let the rest (the favicon in the form, config.json) finish, for the byte count.
  await page.waitForLoadState('networkidle');
  await page.close();
  const list = [...requests.values()].filter((r) => r.url.startsWith('http'));
  return {
    ms,
    bytes: list.reduce((sum, r) => sum + (r.fromCache ? 0 : r.encoded), 0),
    network: list.filter((r) => !r.fromCache).map((r) => `${new URL(r.url).pathname} ${r.status}${r.encoding ? ` ${r.encoding}` : ''}`),
    cached: list.filter((r) => r.fromCache).map((r) => new URL(r.url).pathname),
  };
}

const fmtKb = (n) => `${(n / 1024).toFixed(1)} KiB`;
const fmtMs = (n) => `${n.toFixed(0)} ms`;
const fmtS = (n) => (n >= 1000 ? `${(n / 1000).toFixed(2)} s` : fmtMs(n));

async function measure(args) {
  const dir = mkdtempSync(join(tmpdir(), 'knock-bench-'));
  const server = await startServer(args.server, dir);
  const browser = await launchChromium();
  const results = { chromium: browser.version(), runs: args.runs, server: args.server, localhost: {}, throttled: {}, requests: {} };
  try {
    for (const [name, throttled] of [['localhost', false], ['throttled', true]]) {
      const cold = [];
      const warm = [];
      for (let i = 0; i < args.runs; i++) {
        const context = await browser.newContext();
        cold.push(await load(context, server.url, throttled));
        warm.push(await load(context, server.url, throttled));
        await context.close();
        process.stderr.write(`${name} ${i + 1}/${args.runs}: cold ${fmtMs(cold.at(-1).ms)}, warm ${fmtMs(warm.at(-1).ms)}\n`);
      }
      const summary = (loads) => ({
        median: median(loads.map((l) => l.ms)),
        min: Math.min(...loads.map((l) => l.ms)),
        max: Math.max(...loads.map((l) => l.ms)),
        bytes: median(loads.map((l) => l.bytes)),
        network: loads[0].network,
        cached: loads[0].cached,
      });
      results[name] = { cold: summary(cold), warm: summary(warm) };
    }
    // What reaches the server, the favicon included.
    const proxy = await countingProxy(server.port);
    const context = await browser.newContext();
    await load(context, proxy.url, false);
    results.requests.cold = [...proxy.seen];
    proxy.seen.length = 0;
    await load(context, proxy.url, false);
    results.requests.warm = [...proxy.seen];
    await context.close();
    await proxy.close();
  } finally {
    await browser.close();
    server.child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
  return results;
}

function doc(args, size, after, before) {
  const table = size.rows.map((r) => `| ${r.name}${r.signIn ? '' : ' (after sign-in page)'} | ${fmtKb(r.raw)} | ${fmtKb(r.gzip)} | ${fmtKb(r.brotli)} |`).join('\n');
  const signIn = size.signIn ?? size.total;
  const row = (label, pick, fmt) =>
    `| ${label} | ${before ? `${fmt(pick(before))} | ` : ''}${fmt(pick(after))} |`;
  const head = before ? '| | before | after |\n|---|---:|---:|' : '| | now |\n|---|---:|';
  const list = (xs) => (xs.length ? xs.map((x) => `\`${x}\``).join(', ') : 'none');
  const count = (xs) => {
    const counts = new Map();
    for (const x of xs) counts.set(x.split('?')[0], (counts.get(x.split('?')[0]) ?? 0) + 1);
    return [...counts].map(([path, n]) => (n > 1 ? `\`${path}\` ×${n}` : `\`${path}\``)).join(', ') || 'none';
  };
  return `# Web client figures

## Results

${before ? `Before: ${before.label ?? before.server}. After: ${after.label ?? after.server}. Same client build, same machine, run back to back.` : ''}

| page load to an interactive sign-in form | ${before ? 'before | after |\n|---|---:|---:|' : 'now |\n|---|---:|'}
${row('bytes on the wire, cold', (r) => r.localhost.cold.bytes, fmtKb)}
${row('bytes on the wire, warm', (r) => r.localhost.warm.bytes, fmtKb)}
${row('localhost, cold (median)', (r) => r.localhost.cold.median, fmtS)}
${row('localhost, warm (median)', (r) => r.localhost.warm.median, fmtS)}
${row('1.6 Mbps / 150 ms, cold (median)', (r) => r.throttled.cold.median, fmtS)}
${row('1.6 Mbps / 150 ms, warm (median)', (r) => r.throttled.warm.median, fmtS)}

Spread (min–max over ${args.runs} loads each):

${head.replace('| |', '| load |')}
${row('localhost, cold', (r) => r.localhost.cold, (s) => `${fmtS(s.min)}–${fmtS(s.max)}`)}
${row('localhost, warm', (r) => r.localhost.warm, (s) => `${fmtS(s.min)}–${fmtS(s.max)}`)}
${row('throttled, cold', (r) => r.throttled.cold, (s) => `${fmtS(s.min)}–${fmtS(s.max)}`)}
${row('throttled, warm', (r) => r.throttled.warm, (s) => `${fmtS(s.min)}–${fmtS(s.max)}`)}

What went to the network (path, status, encoding)${before ? ', after' : ''}:

- cold: ${list(after.localhost.cold.network)}
- warm: ${list(after.localhost.warm.network)}; from the cache: ${list(after.localhost.warm.cached)}
${before ? `\nBefore:\n\n- cold: ${list(before.localhost.cold.network)}\n- warm: ${list(before.localhost.warm.network)}; from the cache: ${list(before.localhost.warm.cached)}\n` : ''}
${before ? `Reading it: a cold load now carries the brotli copies instead of the raw files, and
on the slow link (about 200 KB/s) that is most of the time saved. A warm load asks the
server only for the page and config.json, answered \`304 Not Modified\` (headers only;
DevTools reports the cached response's 200), and takes the client's files from the
cache without asking until a release changes their names. Before, the server sent no
\`Cache-Control\`; Chromium then keeps a file for a tenth of the time since its
\`Last-Modified\` (heuristic freshness), and the build was minutes old, so in this run
its warm loads were served from the cache too; how long that lasts depended on the
build's age, and config.json could be kept stale. On localhost the medians differ by
less than the spread: the server and Chromium share 2 cores. The page loads the favicon
twice (the tab's icon and the form's logo): before, DevTools listed both as network
loads (the server saw one request); now the second comes from the cache.
` : ''}
Requests that reached the server (the favicon included, which Chromium fetches on its own):

- ${before ? 'after, ' : ''}cold: ${count(after.requests.cold)}; warm: ${count(after.requests.warm)}
${before ? `- before, cold: ${count(before.requests.cold)}; warm: ${count(before.requests.warm)}\n` : ''}
### The client's files

| file | raw | gzip -9 (.gz) | brotli 11 (.br, sent) |
|---|---:|---:|---:|
${table}
| **the sign-in page** | **${fmtKb(signIn.raw)}** | **${fmtKb(signIn.gzip)}** | **${fmtKb(signIn.brotli)}** |
| **all** | **${fmtKb(size.total.raw)}** | **${fmtKb(size.total.gzip)}** | **${fmtKb(size.total.brotli)}** |

Budget: the sign-in page under 300 KB (300,000 bytes) gzip: **${signIn.gzip <= BUDGET_GZIP ? 'met' : 'NOT met'}**
(${signIn.gzip.toLocaleString('en')} bytes; brotli ${signIn.brotli.toLocaleString('en')} bytes). index.html and config.json are not counted.

## How measured

\`node end2end/bench/client-figures.mjs ${args.runs}${before ? ' --json FILE --before BEFORE.json' : ''}\` on ${after.date}
(${cpus().length} cores, ${cpus()[0]?.model ?? 'unknown CPU'}, Chromium ${after.chromium}, headless), against the
one-box server (\`target/release/knock-server\`) serving the release build
(\`scripts/build.sh\`: \`opt-level = "z"\`, LTO, wasm-opt, code splitting) prepared by
\`scripts/prepare-site.mjs\`.${before ? ' The before figures come from the same script with \`--server\` pointing at the older binary and \`--json\`.' : ''}

- **Time**: from the start of navigation (\`performance.now()\` = 0) to the moment the
  mounted app's sign-in form is in the DOM; each run then types into it to prove it
  answers. Cold = a new browser context (empty cache); warm = the same page loaded again
  in that context (a new tab). ${args.runs} cold and ${args.runs} warm loads for each network; medians.
- **Throttled**: Chromium's own network emulation through the DevTools protocol
  (\`Network.emulateNetworkConditions\`: 1.6 Mbps down, 750 Kbps up, 150 ms latency
  added to each request), the same figures as the issue's slow connection.
- **Bytes on the wire**: the sum of \`encodedDataLength\` of every request of the load
  as Chromium's network stack reports it (compressed bodies plus response headers);
  requests served from the browser's cache count 0. Median over the loads.
- **Requests that reached the server**: one more cold and warm load through a small
  counting proxy in front of the server.
`;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  let results;
  if (args.results) {
    results = JSON.parse(readFileSync(args.results, 'utf8'));
    args.runs = results.runs;
  } else {
    if (!existsSync(args.server)) throw new Error(`${args.server} is missing: scripts/build.sh`);
    results = await measure(args);
    results.sizes = sizes();
    results.date = new Date().toISOString().slice(0, 10);
    results.label = args.label;
  }
  const size = results.sizes;
  if (args.json) writeFileSync(args.json, JSON.stringify(results, null, 2));
  const before = args.before ? JSON.parse(readFileSync(args.before, 'utf8')) : null;
  const md = doc(args, size, results, before);
  if (args.doc) writeFileSync(join(REPO, 'docs', 'client-figures.md'), md);
  console.log(md);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
