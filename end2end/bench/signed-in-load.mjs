// Time from navigation to a signed-in user's working page (a benchmark, not a test),
// against the one-box server serving target/site: the page with a session already in
// localStorage, as for someone coming back, until the header says "Connected" (the
// signed-in pages are mounted and the socket is authenticated). Cold (a new browser
// context, empty cache) and warm (the same context again), on localhost and on
// Chromium's emulated 1.6 Mbps / 150 ms connection; medians of RUNS.
//
// Usage (from the repository root, after scripts/build.sh or a one-module build):
//   node end2end/bench/signed-in-load.mjs [RUNS] [--server BIN]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const { chromium } = require('@playwright/test');

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const THROTTLED = { offline: false, latency: 150, downloadThroughput: 1_600_000 / 8, uploadThroughput: 750_000 / 8 };

const args = process.argv.slice(2);
const runs = Number(args.find((a) => /^\d+$/.test(a)) ?? 9);
const serverAt = args.indexOf('--server');
const serverBin = serverAt >= 0 ? resolve(args[serverAt + 1]) : join(REPO, 'target', 'release', 'knock-server');

const freePort = () =>
  new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// Records, in the page, when the header first says "Connected".
const PROBE = `
  new MutationObserver((_, observer) => {
    const label = document.querySelector('.conn-label');
    if (label && label.textContent.trim() === 'Connected') {
      window.__knockReady = performance.now();
      observer.disconnect();
    }
  }).observe(document, { childList: true, subtree: true, characterData: true });
`;

async function load(context, url, throttled, session) {
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  if (throttled) await cdp.send('Network.emulateNetworkConditions', THROTTLED);
  await page.addInitScript(`localStorage.setItem('knock.session', ${JSON.stringify(JSON.stringify(session))});`);
  await page.addInitScript(PROBE);
  await page.goto(url);
  await page.waitForFunction(() => window.__knockReady !== undefined, null, { timeout: 60_000 });
  const ms = await page.evaluate(() => window.__knockReady);
  await page.close();
  return ms;
}

const dir = mkdtempSync(join(tmpdir(), 'knock-bench-'));
const port = await freePort();
const server = spawn(serverBin, ['--addr', `127.0.0.1:${port}`, '--database-url', `sqlite:${join(dir, 'bench.db')}`, '--site-root', join(REPO, 'target', 'site')], {
  cwd: REPO,
  stdio: 'ignore',
});
const url = `http://127.0.0.1:${port}`;
try {
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      if (i > 200) throw new Error('the server did not start');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const answer = await fetch(`${url}/api/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'bench', password: 'correct horse battery' }),
  });
  const { userId, token } = await answer.json();
  const session = { userId, token };
  const browser = await chromium.launch({
    executablePath: process.env.KNOCK_CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    for (const [name, throttled] of [['localhost', false], ['throttled', true]]) {
      const cold = [];
      const warm = [];
      for (let i = 0; i < runs; i++) {
        const context = await browser.newContext();
        cold.push(await load(context, url, throttled, session));
        warm.push(await load(context, url, throttled, session));
        await context.close();
      }
      const line = (xs) => `median ${median(xs).toFixed(0)} ms (${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)})`;
      console.log(`${name}: cold ${line(cold)}; warm ${line(warm)}`);
    }
  } finally {
    await browser.close();
  }
} finally {
  server.kill();
  rmSync(dir, { recursive: true, force: true });
}
