import { defineConfig } from '@playwright/test';
import type { KnockOptions } from './tests/fixtures';

/**
 * Every test runs twice: against the one-box server (the page and the API on one
 * origin), and against the static export served by a plain static file server on
 * another port, talking to the API server across origins (as the S3 site does).
 * The fixtures in tests/fixtures.ts start the servers themselves.
 */
export default defineConfig<KnockOptions>({
  testDir: './tests',
  fullyParallel: false,
  workers: 1,
  forbidOnly: !!process.env.CI,
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 15_000 },
  reporter: process.env.CI ? [['list']] : [['list'], ['html', { open: 'never' }]],
  use: {
    launchOptions: {
      executablePath: process.env.KNOCK_CHROMIUM ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    },
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
  },
  projects: [
    { name: 'same-origin', use: { deployment: 'same-origin' } },
    { name: 'static-export', use: { deployment: 'static-export' } },
  ],
});
