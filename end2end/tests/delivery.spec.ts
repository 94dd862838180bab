import type { CDPSession, Page } from '@playwright/test';
import { test, expect, username, PASSWORD } from './fixtures';

// How the client reaches the browser, in both deployments: the one-box server, and the
// static export served as docs/deploy-s3.md sets up S3 and CloudFront (static-server.mjs
// does the same). What is checked is what Chromium received, from its DevTools protocol.

const IMMUTABLE = 'public, max-age=31536000, immutable';
// As scripts/prepare-site.mjs names them: the modules in the folder of their build,
// pkg/<16 hex>/<file>, and the stylesheet pkg/knock.<16 hex>.css.
const HASHED = /\/pkg\/(?:[0-9a-f]{16}\/([^/]+)|knock\.[0-9a-f]{16}\.(css))$/;
// The sign-in page's files, then the signed-in pages' module and its loader, which are
// fetched in the background once the sign-in page is up (docs/client-figures.md).
const EVERY_FILE = ['css', 'knock.js', 'knock.wasm', 'loader', 'split_signed_in.wasm'];

type Received = {
  url: string;
  status: number;
  headers: Record<string, string>;
  fromCache: boolean;
};

/** Every response of the page's loads, as the browser's network stack reports it. */
async function recordResponses(page: Page): Promise<{ cdp: CDPSession; received: Received[] }> {
  const cdp = await page.context().newCDPSession(page);
  const received: Received[] = [];
  const servedFromCache = new Set<string>();
  cdp.on('Network.requestServedFromCache', ({ requestId }) => servedFromCache.add(requestId));
  cdp.on('Network.responseReceived', ({ requestId, response }) => {
    const headers = Object.fromEntries(
      Object.entries(response.headers as Record<string, string>).map(([k, v]) => [k.toLowerCase(), v]),
    );
    received.push({
      url: response.url,
      status: response.status,
      headers,
      fromCache: servedFromCache.has(requestId) || response.fromDiskCache === true,
    });
  });
  await cdp.send('Network.enable');
  return { cdp, received };
}

async function signInFormIsUsable(page: Page) {
  await expect(page.getByRole('button', { name: 'Create account' })).toBeVisible();
  await page.getByLabel('Username').fill('someone');
  await expect(page.getByLabel('Username')).toHaveValue('someone');
}

const clientFiles = (received: Received[]) => received.filter((r) => HASHED.test(new URL(r.url).pathname));
const kind = (r: Received) => {
  const [, file, css] = HASHED.exec(new URL(r.url).pathname)!;
  return css ?? file.replace(/^__wasm_split\..*\.js$/, 'loader');
};

test('the client arrives precompressed, content-hashed files are cached for good, the page is revalidated', async ({
  browser,
  knock,
}) => {
  const context = await browser.newContext({ baseURL: knock.appUrl });
  const page = await context.newPage();
  const { received } = await recordResponses(page);

  await page.goto('/');
  await signInFormIsUsable(page);
  await expect.poll(() => clientFiles(received).map(kind).sort()).toEqual(EVERY_FILE);

  const first = clientFiles(received);
  for (const file of first) {
    expect(file.status, file.url).toBe(200);
    expect(file.fromCache, file.url).toBe(false);
    expect(file.headers['content-encoding'], file.url).toBe('br');
    expect(file.headers['cache-control'], file.url).toBe(IMMUTABLE);
    if (file.url.endsWith('.wasm')) expect(file.headers['content-type'], file.url).toBe('application/wasm');
  }

  const shell = received.find((r) => new URL(r.url).pathname === '/')!;
  expect(shell.headers['cache-control']).toBe('no-cache');
  expect(shell.headers['content-encoding']).toBe('br');
  const config = received.find((r) => new URL(r.url).pathname === '/config.json')!;
  expect(config.headers['cache-control']).toBe('no-cache');

  // A reload asks for the page again, and takes the client's files from the cache.
  received.length = 0;
  await page.reload();
  await signInFormIsUsable(page);
  await expect.poll(() => clientFiles(received).map(kind).sort()).toEqual(EVERY_FILE);
  const again = clientFiles(received);
  for (const file of again) expect(file.fromCache, file.url).toBe(true);
  const shellAgain = received.find((r) => new URL(r.url).pathname === '/')!;
  expect(shellAgain.fromCache).toBe(false);

  // Client routes get the same page, revalidated too.
  received.length = 0;
  await page.goto('/join/00000000-0000-4000-8000-000000000000');
  await signInFormIsUsable(page);
  const route = received.find((r) => new URL(r.url).pathname.startsWith('/join/'))!;
  expect(route.headers['cache-control']).toBe('no-cache');
  for (const file of clientFiles(received)) expect(file.fromCache, file.url).toBe(true);

  await context.close();
});

test('the sign-in page works without the signed-in pages, which load on sign-in, and again after a failure', async ({
  browser,
  knock,
}) => {
  const context = await browser.newContext({ baseURL: knock.appUrl });
  // The signed-in pages' module cannot be fetched (a network that drops, a host that lost it).
  await context.route('**/split_signed_in.wasm', (route) => route.abort('connectionfailed'));
  const page = await context.newPage();
  await page.goto('/');
  await signInFormIsUsable(page);
  await page.getByLabel('Username').fill(username('split'));
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  const failed = page.getByRole('alert').filter({ hasText: 'Knock could not load the rest of the app' });
  await expect(failed).toBeVisible();

  // Back: "Try again" loads them, signed in as before.
  await context.unroute('**/split_signed_in.wasm');
  await page.getByRole('button', { name: 'Try again' }).click();
  await expect(failed).toBeHidden();
  await expect(page.getByRole('button', { name: 'Sign out' })).toBeVisible();
  await expect(page.getByLabel('Room name')).toBeVisible();
  await context.close();
});

test('the page runs under a Content-Security-Policy that forbids framing, and sends no referrer', async ({
  browser,
  knock,
}) => {
  const context = await browser.newContext({ baseURL: knock.appUrl });
  const page = await context.newPage();
  const refused: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) refused.push(message.text());
  });
  const response = await page.goto('/');
  await signInFormIsUsable(page);
  const headers = response!.headers();
  const csp = headers['content-security-policy'] ?? '';
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).toContain("script-src 'self' 'wasm-unsafe-eval' 'sha256-");
  expect(csp).not.toContain('unsafe-inline');
  expect(headers['x-frame-options']).toBe('DENY');
  expect(headers['referrer-policy']).toBe('no-referrer');
  expect(headers['x-content-type-options']).toBe('nosniff');
  // The client started under it (the form works) and nothing was refused.
  expect(refused).toEqual([]);
  // Framed by another page, the browser refuses to show it.
  const framer = await context.newPage();
  const blocked: string[] = [];
  framer.on('console', (message) => blocked.push(message.text()));
  await framer.setContent(`<iframe src="${knock.appUrl}/" title="framed"></iframe>`);
  await expect
    .poll(() => blocked.some((text) => /frame-ancestors|X-Frame-Options|refused to (display|connect)/i.test(text)))
    .toBe(true);
  await context.close();
});
