import {
  test as base,
  expect,
  type Browser,
  type BrowserContext,
  type BrowserContextOptions,
  type Page,
} from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const REPO = resolve(__dirname, '..', '..');
const SERVER_BIN = join(REPO, 'target', 'release', 'knock-server');

export type Deployment = 'same-origin' | 'static-export';

/** The servers' re-knock cooldown after a rejection, in seconds. */
export const KNOCK_COOLDOWN_SECS = 8;
export type KnockOptions = { deployment: Deployment };

/** The API server, restartable on the same port and database. */
export class KnockServer {
  private child: ChildProcess | null = null;
  private log = '';

  constructor(
    readonly port: number,
    readonly databaseUrl: string,
    readonly allowedOrigins: string,
    /** More flags, for example `--redis-url` for a node of a cluster. */
    readonly extraArgs: string[] = [],
  ) {}

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start() {
    const child = spawn(
      SERVER_BIN,
      [
        '--addr', `127.0.0.1:${this.port}`,
        '--database-url', this.databaseUrl,
        '--site-root', join(REPO, 'target', 'site'),
        '--allowed-origins', this.allowedOrigins,
        // A rejected user may knock again after this long (600 s by default): short, so
        // that a test sees both the refusal and the knock after it.
        '--knock-cooldown-secs', String(KNOCK_COOLDOWN_SECS),
        // Every test user signs up from 127.0.0.1 (10 an hour per address by default).
        '--register-rate', '100000000',
        // Tests fill rooms with long histories over raw sockets (by default bursts of 20
        // messages, 100 frames); the web client paces itself to the default rate whatever
        // the server allows.
        '--message-burst', '100000',
        '--frame-rate', '100000',
        ...this.extraArgs,
      ],
      { cwd: REPO, env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout?.on('data', (d) => (this.log += d));
    child.stderr?.on('data', (d) => (this.log += d));
    this.child = child;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`knock-server exited (${child.exitCode}):\n${this.log}`);
      try {
        const res = await fetch(`${this.url}/healthz`);
        if (res.ok) return;
      } catch {
        // Not listening yet.
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`knock-server did not answer /healthz:\n${this.log}`);
  }

  /**
   * Freezes the server (SIGSTOP): its sockets stay open but nothing answers, as with a
   * hung host or a network path that silently drops packets. `thaw` resumes it.
   */
  freeze() {
    this.child?.kill('SIGSTOP');
  }

  thaw() {
    this.child?.kill('SIGCONT');
  }

  /** Kills the server abruptly, as a crash or a redeploy would. */
  async stop() {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    this.child = null;
  }
}

export type Knock = {
  deployment: Deployment;
  /** Where the browser opens the app. */
  appUrl: string;
  api: KnockServer;
};

/** The plain static file server of static-server.mjs, in its own process. */
async function startStaticServer(dir: string, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [join(__dirname, '..', 'static-server.mjs'), dir, String(port)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((ok, fail) => {
    child.once('exit', (code) => fail(new Error(`static server exited (${code})`)));
    child.stdout!.once('data', () => ok());
  });
  return child;
}

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s: Server = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      s.close(() => ok(port));
    });
  });
}

/** One node of a {@link Cluster}: its API server and where the browser opens the app. */
export type ClusterNode = { api: KnockServer; appUrl: string };

/**
 * Two Knock nodes sharing one PostgreSQL database and one Redis, as a deployment behind a
 * load balancer has them. In the static-export project each node has its own static site
 * whose config.json points at it, so a browser on a site talks to that node only.
 */
export type Cluster = { deployment: Deployment; nodes: ClusterNode[] };

/** The PostgreSQL server of the cluster tests (as server/tests/common/postgres.rs). */
const POSTGRES_URL = process.env.KNOCK_TEST_POSTGRES_URL ?? 'postgres://root@127.0.0.1:5432/test';

/** `url` naming the database `name` instead of its own. */
function withDatabase(url: string, name: string) {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

/**
 * A fresh database for one run. Named as the server's tests name theirs
 * (`knock_test_<unix seconds>_<random>`), so that their clean-up drops it if this run is
 * killed before it does.
 */
function createPostgresDatabase(): string {
  const name = `knock_test_${Math.floor(Date.now() / 1000)}_e2e${randomBytes(8).toString('hex')}`;
  execFileSync('psql', [POSTGRES_URL, '-v', 'ON_ERROR_STOP=1', '-qc', `CREATE DATABASE "${name}"`], { stdio: 'pipe' });
  return name;
}

function dropPostgresDatabase(name: string) {
  execFileSync('psql', [POSTGRES_URL, '-qc', `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`], { stdio: 'pipe' });
}

/**
 * A redis-server of the run's own on a free port (as server/tests/cluster.rs starts one):
 * the nodes' channels and keys (`knock:*`) meet no other run's.
 */
async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`redis-server exited (${child.exitCode})`);
    const up = await new Promise<boolean>((ok) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        ok(true);
      });
      socket.once('error', () => ok(false));
    });
    if (up) return child;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('redis-server did not start');
}

async function stopChild(child: ChildProcess) {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill();
  await exited;
}

let uniq = 0;
/**
 * A username unique within this worker, valid for the server's rules. Each worker has
 * its own fresh database, so a counter is enough (and screenshots show short names).
 */
export function username(prefix: string) {
  uniq += 1;
  return `${prefix}${uniq}`;
}

export const PASSWORD = 'correct horse battery';

/** Uncaught errors in any page of any user (a Rust panic shows up here). */
const pageErrors: string[] = [];

/** What the browser refused under the Content-Security-Policy, in any page of any user. */
const cspViolations: string[] = [];

/** Every user's browser context still open in this test, for the accessibility check. */
const openContexts = new Set<BrowserContext>();

/**
 * Runs axe (https://github.com/dequelabs/axe-core) on the page as it is and fails on any
 * serious or critical violation, naming the rule, the elements and the state.
 */
export async function expectAccessible(page: Page, state = '') {
  // Final styles, not a frame of a slide-in (the stylesheet honours reduced motion).
  await page.emulateMedia({ reducedMotion: 'reduce' });
  // Legacy mode runs in the page itself; the default opens a blank page in the context.
  const results = await new AxeBuilder({ page }).setLegacyMode().analyze();
  const found = results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help}\n${v.nodes
      .map((n) => `    ${n.target.join(' ')}: ${n.failureSummary?.replace(/\s+/g, ' ')}`)
      .join('\n')}`);
  expect(found, `accessibility of ${page.url()} ${state}`).toEqual([]);
}

/**
 * {@link expectAccessible} in the light and the dark scheme, then the same 360 px wide
 * (a phone) when the page is wider. It changes the page's size and scheme: for the end
 * of a test, or where the test sets them again.
 */
export async function expectAccessibleEverywhere(page: Page, state = '') {
  const viewport = page.viewportSize();
  const sizes = viewport && viewport.width > 360 ? [viewport, { width: 360, height: 740 }] : [viewport];
  for (const size of sizes) {
    if (size) await page.setViewportSize(size);
    for (const colorScheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme });
      await expectAccessible(page, `${state} (${colorScheme}, ${size?.width ?? '?'} px wide)`.trim());
    }
  }
}

/** A new person in their own browser context; `options` for a phone (`hasTouch`, `isMobile`). */
type NewUser = (prefix: string, options?: BrowserContextOptions) => Promise<User>;

export const test = base.extend<
  {
    newUser: NewUser;
    /** A new person whose browser uses node `node` (0 or 1) of the {@link Cluster}. */
    newUserOn: (node: number, prefix: string, options?: BrowserContextOptions) => Promise<User>;
    noPageErrors: void;
    accessible: void;
  },
  KnockOptions & { knock: Knock; cluster: Cluster }
>({
  noPageErrors: [
    async ({}, use) => {
      pageErrors.length = 0;
      cspViolations.length = 0;
      await use();
      expect(pageErrors, 'uncaught errors in the app').toEqual([]);
      expect(cspViolations, 'what the Content-Security-Policy refused').toEqual([]);
    },
    { auto: true },
  ],
  // After every test that passed: axe on every page of every user still open, as the
  // test left it, in light and dark and 360 px wide. It depends on newUser so that it
  // runs before newUser closes the contexts.
  accessible: [
    async ({ newUser }, use, testInfo) => {
      void newUser;
      openContexts.clear();
      await use();
      if (testInfo.status !== testInfo.expectedStatus) return;
      for (const context of [...openContexts]) {
        for (const page of context.pages()) {
          if (page.isClosed() || !page.url().startsWith('http')) continue;
          await expectAccessibleEverywhere(page, 'at the end of the test');
        }
      }
    },
    { auto: true, timeout: 60_000 },
  ],
  deployment: ['same-origin', { option: true, scope: 'worker' }],
  knock: [
    async ({ deployment }, use) => {
      if (!existsSync(SERVER_BIN)) {
        throw new Error(`${SERVER_BIN} is missing: run \`scripts/build.sh\` first`);
      }
      const dir = mkdtempSync(join(tmpdir(), 'knock-e2e-'));
      const apiPort = await freePort();
      const staticPort = await freePort();
      const staticOrigin = `http://127.0.0.1:${staticPort}`;
      const api = new KnockServer(apiPort, `sqlite:${join(dir, 'knock.db')}`, staticOrigin);
      // The documented export command; it also installs the page shell into target/site
      // for the one-box server.
      const exportDir = join(dir, 'site');
      execFileSync(join(REPO, 'scripts', 'export-static.sh'), ['--no-build', '--server-url', api.url, exportDir], {
        cwd: REPO,
        stdio: 'pipe',
      });
      await api.start();
      let staticServer: ChildProcess | null = null;
      let appUrl = api.url;
      if (deployment === 'static-export') {
        staticServer = await startStaticServer(exportDir, staticPort);
        appUrl = staticOrigin;
      }
      await use({ deployment, appUrl, api });
      await api.stop();
      if (staticServer) {
        const exited = new Promise((r) => staticServer!.once('exit', r));
        staticServer.kill();
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
    { scope: 'worker', timeout: 60_000 },
  ],
  baseURL: async ({ knock }, use) => {
    await use(knock.appUrl);
  },
  cluster: [
    async ({ deployment }, use) => {
      if (!existsSync(SERVER_BIN)) {
        throw new Error(`${SERVER_BIN} is missing: run \`scripts/build.sh\` first`);
      }
      const dir = mkdtempSync(join(tmpdir(), 'knock-e2e-cluster-'));
      const database = createPostgresDatabase();
      const nodes: ClusterNode[] = [];
      const staticServers: ChildProcess[] = [];
      let redis: ChildProcess | null = null;
      try {
        const redisPort = await freePort();
        redis = await startRedis(redisPort);
        const redisUrl = `redis://127.0.0.1:${redisPort}`;
        for (let i = 0; i < 2; i++) {
          const staticPort = await freePort();
          const staticOrigin = `http://127.0.0.1:${staticPort}`;
          const api = new KnockServer(await freePort(), withDatabase(POSTGRES_URL, database), staticOrigin, [
            '--redis-url',
            redisUrl,
          ]);
          const exportDir = join(dir, `site-${i}`);
          execFileSync(join(REPO, 'scripts', 'export-static.sh'), ['--no-build', '--server-url', api.url, exportDir], {
            cwd: REPO,
            stdio: 'pipe',
          });
          // One after the other: the first creates the schema.
          await api.start();
          let appUrl = api.url;
          if (deployment === 'static-export') {
            staticServers.push(await startStaticServer(exportDir, staticPort));
            appUrl = staticOrigin;
          }
          nodes.push({ api, appUrl });
        }
        await use({ deployment, nodes });
      } finally {
        for (const node of nodes) await node.api.stop();
        for (const server of staticServers) await stopChild(server);
        if (redis) await stopChild(redis);
        dropPostgresDatabase(database);
        rmSync(dir, { recursive: true, force: true });
      }
    },
    { scope: 'worker', timeout: 90_000 },
  ],
  newUser: async ({ browser, knock }, use) => {
    const contexts: BrowserContext[] = [];
    await use(async (prefix: string, options?: BrowserContextOptions) => {
      const user = await User.signUp(browser, knock.appUrl, username(prefix), '/', options);
      contexts.push(user.context);
      return user;
    });
    for (const c of contexts) await c.close();
  },
  newUserOn: async ({ browser, cluster }, use) => {
    const contexts: BrowserContext[] = [];
    await use(async (node: number, prefix: string, options?: BrowserContextOptions) => {
      const user = await User.signUp(browser, cluster.nodes[node].appUrl, username(prefix), '/', options);
      contexts.push(user.context);
      return user;
    });
    for (const c of contexts) await c.close();
  },
});

export { expect };

/** One person with their own browser context (own localStorage, own socket). */
export class User {
  constructor(
    readonly name: string,
    readonly context: BrowserContext,
    readonly page: Page,
  ) {}

  static async open(browser: Browser, appUrl: string, name: string, path = '/', options: BrowserContextOptions = {}) {
    const context = await browser.newContext({ ...options, baseURL: appUrl });
    context.on('weberror', (e) => pageErrors.push(`${name}: ${e.error().message}`));
    context.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) cspViolations.push(`${name}: ${message.text()}`);
    });
    openContexts.add(context);
    context.on('close', () => openContexts.delete(context));
    const page = await context.newPage();
    await page.goto(path);
    return new User(name, context, page);
  }

  static async signUp(browser: Browser, appUrl: string, name: string, path = '/', options: BrowserContextOptions = {}) {
    const user = await User.open(browser, appUrl, name, path, options);
    await user.createAccount();
    return user;
  }

  async createAccount() {
    const { page } = this;
    await page.getByLabel('Username').fill(this.name);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();
    await expect(page.getByRole('button', { name: 'Sign out' })).toBeVisible();
    await expect(this.status()).toHaveText('Connected');
  }

  status() {
    return this.page.locator('.conn-label');
  }

  async createRoom(name: string): Promise<string> {
    const { page } = this;
    await page.goto('/');
    await page.getByLabel('Room name').fill(name);
    await page.getByRole('button', { name: 'Create room' }).click();
    await expect(page.getByRole('heading', { level: 1, name })).toBeVisible();
    await expect(page).toHaveURL(/\/room\/[0-9a-f-]{36}$/);
    return new URL(page.url()).pathname.split('/').pop()!;
  }

  async askToJoin(roomId: string) {
    const { page } = this;
    await page.goto('/');
    // After the reload the socket opens again; a knock sent before that is refused.
    await expect(this.status()).toHaveText('Connected');
    await page.getByLabel('Room ID').fill(roomId);
    await page.getByRole('button', { name: 'Join', exact: true }).click();
    await expect(page.getByRole('heading', { name: 'Waiting for approval' })).toBeVisible();
  }

  async send(text: string) {
    const box = this.page.getByLabel('Message', { exact: true });
    await box.fill(text);
    await box.press('Enter');
  }

  messages() {
    return this.page.locator('.messages .msg');
  }

  message(text: string) {
    return this.page.locator('.messages .msg-text', { hasText: text });
  }
}

/** Screenshots go to docs/screenshots, from one project only (they would be the same). */
export async function screenshot(page: Page, knock: Knock, name: string) {
  if (knock.deployment !== 'same-origin') return;
  await page.screenshot({ path: join(REPO, 'docs', 'screenshots', `${name}.png`) });
}

/** Sends chat messages over a second raw socket of the same user (the test servers allow bursts). */
export async function sendRaw(page: Page, wsUrl: string, roomId: string, texts: string[]) {
  await page.evaluate(
    async ({ wsUrl, roomId, texts }) => {
      const token = JSON.parse(localStorage.getItem('knock.session')!).token;
      const ws = new WebSocket(wsUrl);
      let acked = 0;
      const all = new Promise<void>((done, fail) => {
        ws.onmessage = (ev) => {
          const frame = JSON.parse(ev.data);
          if (frame.action === 'messageAck' && ++acked === texts.length) done();
          if (frame.action === 'error') fail(new Error(JSON.stringify(frame)));
        };
      });
      await new Promise((r) => (ws.onopen = r));
      ws.send(JSON.stringify({ action: 'authenticate', token }));
      for (const message of texts) {
        ws.send(JSON.stringify({ action: 'sendMessage', roomId, message, clientMsgId: crypto.randomUUID() }));
      }
      await all;
      ws.close();
    },
    { wsUrl, roomId, texts },
  );
}

/**
 * Sends one frame over a raw socket of the page's signed-in user, as any client may (for
 * what the UI does not offer, such as a link that expires in a second), and resolves to
 * the server's first frame of `answer`; an `error` frame rejects.
 */
export async function requestRaw(page: Page, wsUrl: string, frame: object, answer: string): Promise<Record<string, unknown>> {
  return page.evaluate(
    async ({ wsUrl, frame, answer }) => {
      const token = JSON.parse(localStorage.getItem('knock.session')!).token;
      const ws = new WebSocket(wsUrl);
      const reply = new Promise<Record<string, unknown>>((done, fail) => {
        ws.onmessage = (ev) => {
          const got = JSON.parse(ev.data);
          if (got.action === answer) done(got);
          if (got.action === 'error') fail(new Error(JSON.stringify(got)));
        };
      });
      await new Promise((r) => (ws.onopen = r));
      ws.send(JSON.stringify({ action: 'authenticate', token }));
      ws.send(JSON.stringify(frame));
      try {
        return await reply;
      } finally {
        ws.close();
      }
    },
    { wsUrl, frame, answer },
  );
}

/** The API server's socket address, for {@link sendRaw} and {@link requestRaw}. */
export function wsUrlOf(api: KnockServer) {
  return api.url.replace('http', 'ws') + '/ws';
}

/** The message whose own text (not a quote of it) holds `text`, in `user`'s open room. */
export function messageRow(user: User, text: string) {
  return user.page.locator('.messages .msg').filter({ has: user.page.locator('.msg-text', { hasText: text }) });
}

/** Opens the "Message actions" menu of that message (hovering it first, as a mouse does). */
export async function openMessageMenu(user: User, text: string) {
  const message = messageRow(user, text);
  await message.hover();
  const button = message.getByRole('button', { name: 'Message actions' });
  await button.click();
  await expect(button).toHaveAttribute('aria-expanded', 'true');
  return message;
}
