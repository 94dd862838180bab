import type { CDPSession, Page } from '@playwright/test';
import { test, expect } from './fixtures';

// How the client reaches the browser, in both deployments: the one-box server, and the
// static export served as docs/deploy-s3.md sets up S3 and CloudFront (static-server.mjs
// does the same). What is checked is what Chromium received, from its DevTools protocol.

const IMMUTABLE = 'public, max-age=31536000, immutable';
const HASHED = /\/pkg\/knock\.[0-9a-f]{16}\.(wasm|js|css)$/;

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
const kind = (r: Received) => HASHED.exec(new URL(r.url).pathname)![1];

test('the client arrives precompressed, content-hashed files are cached for good, the page is revalidated', async ({
  browser,
  knock,
}) => {
  const context = await browser.newContext({ baseURL: knock.appUrl });
  const page = await context.newPage();
  const { received } = await recordResponses(page);

  await page.goto('/');
  await signInFormIsUsable(page);

  const first = clientFiles(received);
  expect(first.map(kind).sort()).toEqual(['css', 'js', 'wasm']);
  for (const file of first) {
    expect(file.status, file.url).toBe(200);
    expect(file.fromCache, file.url).toBe(false);
    expect(file.headers['content-encoding'], file.url).toBe('br');
    expect(file.headers['cache-control'], file.url).toBe(IMMUTABLE);
  }
  expect(first.find((r) => kind(r) === 'wasm')!.headers['content-type']).toBe('application/wasm');

  const shell = received.find((r) => new URL(r.url).pathname === '/')!;
  expect(shell.headers['cache-control']).toBe('no-cache');
  expect(shell.headers['content-encoding']).toBe('br');
  const config = received.find((r) => new URL(r.url).pathname === '/config.json')!;
  expect(config.headers['cache-control']).toBe('no-cache');

  // A reload asks for the page again, and takes the client's files from the cache.
  received.length = 0;
  await page.reload();
  await signInFormIsUsable(page);
  const again = clientFiles(received);
  expect(again.map(kind).sort()).toEqual(['css', 'js', 'wasm']);
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
