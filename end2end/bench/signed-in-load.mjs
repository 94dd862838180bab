// Time from navigation to a signed-in user's working page (a benchmark, not a test),
// against the one-box server serving target/site: the page with a session already in
// localStorage, as for someone coming back, until the header says "Connected" (the
// signed-in pages are mounted and the socket is authenticated). Cold (a new browser
// context, empty cache) and warm (the same context again), on localhost and on
// Chromium's emulated 1.6 Mbps / 150 ms connection; medians of RUNS.
//
// Usage (from the repository root, after scripts/build.sh or a one-module build):
//   node end2end/bench/signed-in-load.mjs [RUNS] [--server BIN]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SERVER_BIN, THROTTLED, launchChromium, median, startServer } from './common.mjs';

const args = process.argv.slice(2);
const runs = Number(args.find((a) => /^\d+$/.test(a)) ?? 9);
const serverAt = args.indexOf('--server');
const serverBin = serverAt >= 0 ? resolve(args[serverAt + 1]) : SERVER_BIN;

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
const { child: server, url } = await startServer(serverBin, dir);
try {
  const answer = await fetch(`${url}/api/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'bench', password: 'correct horse battery' }),
  });
  const { userId, token } = await answer.json();
  const session = { userId, token };
  const browser = await launchChromium();
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
