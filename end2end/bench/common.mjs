// What the client benchmarks share: the one-box server on a free port, Chromium, the
// throttled network and medians.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const { chromium } = require('@playwright/test');

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SITE = join(REPO, 'target', 'site');
export const SERVER_BIN = join(REPO, 'target', 'release', 'knock-server');
/** 1.6 Mbps down, 750 Kbps up, 150 ms: Chromium's network emulation takes bytes per second. */
export const THROTTLED = { offline: false, latency: 150, downloadThroughput: 1_600_000 / 8, uploadThroughput: 750_000 / 8 };

export function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

/** `bin` serving target/site on a free port, with a fresh SQLite database in `dir`. */
export async function startServer(bin, dir) {
  const port = await freePort();
  const child = spawn(bin, ['--addr', `127.0.0.1:${port}`, '--database-url', `sqlite:${join(dir, 'bench.db')}`, '--site-root', SITE], {
    cwd: REPO,
    stdio: 'ignore',
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) return { child, url, port };
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error('knock-server did not start');
}

export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.KNOCK_CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
