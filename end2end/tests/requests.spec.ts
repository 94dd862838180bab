import { test, expect, type User } from './fixtures';

/**
 * The Requests page (issue 18): an admin answers the knocks on all their rooms in one
 * place; and browser notifications of knocks, decisions and mentions while the tab is
 * hidden.
 */

/**
 * Records the notifications the page shows (the browser's own Notification still shows
 * them), and lets the test say when the tab is out of sight: headless Chromium keeps every
 * tab visible, so `document.hidden` answers what the test set.
 */
async function recordNotifications(user: User) {
  await user.context.grantPermissions(['notifications']);
  await user.context.addInitScript(() => {
    const Real = window.Notification;
    const shown: { title: string; body: string }[] = [];
    const w = window as unknown as { shownNotifications: typeof shown; knockHidden: boolean };
    w.shownNotifications = shown;
    w.knockHidden = false;
    class Recorded extends Real {
      constructor(title: string, options?: NotificationOptions) {
        super(title, options);
        shown.push({ title, body: options?.body ?? '' });
      }
    }
    window.Notification = Recorded as typeof Notification;
    Object.defineProperty(Document.prototype, 'hidden', { get: () => w.knockHidden });
    Object.defineProperty(Document.prototype, 'visibilityState', {
      get: () => (w.knockHidden ? 'hidden' : 'visible'),
    });
  });
}

function shownNotifications(user: User) {
  return user.page.evaluate(
    () => (window as unknown as { shownNotifications: { title: string; body: string }[] }).shownNotifications,
  );
}

/** The user looks at another tab: Knock's page is hidden until `showKnock`. */
async function hideKnock(user: User) {
  await user.page.evaluate(() => {
    (window as unknown as { knockHidden: boolean }).knockHidden = true;
    document.dispatchEvent(new Event('visibilitychange'));
  });
}

async function showKnock(user: User) {
  await user.page.evaluate(() => {
    (window as unknown as { knockHidden: boolean }).knockHidden = false;
    document.dispatchEvent(new Event('visibilitychange'));
  });
}

test('an admin answers the knocks on all their rooms from the Requests page', async ({ newUser }) => {
  const admin = await newUser('rqa');
  const ann = await newUser('rqn');
  const bo = await newUser('rqb');
  const books = await admin.createRoom('Books');
  const films = await admin.createRoom('Films');

  await ann.askToJoin(books);
  await bo.askToJoin(films);

  const link = admin.page.getByRole('link', { name: /^Requests/ });
  await expect(link).toHaveAccessibleName('Requests 2 waiting');
  await link.click();
  await expect(admin.page.getByRole('heading', { level: 1, name: 'Requests' })).toBeVisible();
  const booksRequests = admin.page.getByRole('region', { name: /^Books/ });
  const filmsRequests = admin.page.getByRole('region', { name: /^Films/ });
  await expect(booksRequests.getByText(ann.name)).toBeVisible();
  await expect(filmsRequests.getByText(bo.name)).toBeVisible();

  // Let one in, turn the other away: each hears at once, and the page empties.
  await booksRequests.getByRole('button', { name: 'Approve', exact: true }).click();
  await expect(ann.page.getByLabel('Message', { exact: true })).toBeVisible();
  await filmsRequests.getByRole('button', { name: 'Reject', exact: true }).click();
  await expect(bo.page.getByRole('heading', { name: 'Your request was rejected' })).toBeVisible();
  await expect(admin.page.getByText('No one is waiting.', { exact: false })).toBeVisible();
  await expect(link).toHaveAccessibleName('Requests');

  // A knock while the page is open shows up on it.
  const cy = await newUser('rqc');
  await cy.askToJoin(films);
  await expect(filmsRequests.getByText(cy.name)).toBeVisible();
});

test('browser notifications: knocks to the admin and the answer to the knocker, while the tab is hidden', async ({
  newUser,
}) => {
  const admin = await newUser('nta');
  const asker = await newUser('ntk');
  await recordNotifications(admin);
  await recordNotifications(asker);
  const roomId = await admin.createRoom('Quiet room');

  // Off until asked for, on the account page.
  for (const user of [admin, asker]) {
    await user.page.goto('/account');
    const toggle = user.page.getByRole('checkbox', { name: 'Browser notifications' });
    await expect(toggle).not.toBeChecked();
    await toggle.check();
    await expect(toggle).toBeChecked();
  }
  // Still on after a reload.
  await admin.page.reload();
  await expect(admin.page.getByRole('checkbox', { name: 'Browser notifications' })).toBeChecked();
  await expect(admin.status()).toHaveText('Connected');

  await asker.askToJoin(roomId);
  // In sight, the page itself shows the knock: no notification.
  const link = admin.page.getByRole('link', { name: /^Requests/ });
  await expect(link).toHaveAccessibleName('Requests 1 waiting');
  expect(await shownNotifications(admin)).toEqual([]);

  // Out of sight, the next knock comes as a notification.
  const late = await newUser('ntl');
  await hideKnock(admin);
  await late.askToJoin(roomId);
  await expect.poll(() => shownNotifications(admin)).toEqual([
    { title: `${late.name} asks to join Quiet room`, body: 'Open Knock to let them in or not.' },
  ]);
  await showKnock(admin);

  // The knocker hears the answer while looking elsewhere.
  await hideKnock(asker);
  await admin.page.goto(`/room/${roomId}`);
  await admin.page
    .getByRole('region', { name: /Join requests/ })
    .locator('li', { hasText: asker.name })
    .getByRole('button', { name: 'Approve', exact: true })
    .click();
  await expect.poll(() => shownNotifications(asker)).toEqual([
    { title: 'You are in Quiet room', body: 'Your request to join was approved.' },
  ]);
  await showKnock(asker);

  // Turned off, nothing more comes.
  await admin.page.goto('/account');
  await admin.page.getByRole('checkbox', { name: 'Browser notifications' }).uncheck();
  await expect(admin.status()).toHaveText('Connected');
  const third = await newUser('ntt');
  await hideKnock(admin);
  await third.askToJoin(roomId);
  await expect(link).toHaveAccessibleName('Requests 2 waiting');
  expect(await shownNotifications(admin)).toEqual([]);
  await showKnock(admin);
});

test('browser notifications: a mention by username while the tab is hidden, nothing for other messages', async ({
  newUser,
}) => {
  const ann = await newUser('nma');
  const ben = await newUser('nmb');
  const cy = await newUser('nmc');
  await recordNotifications(ben);
  const roomId = await ann.createRoom('Mentions');
  for (const member of [ben, cy]) {
    await member.askToJoin(roomId);
    await ann.page
      .getByRole('region', { name: /Join requests/ })
      .locator('li', { hasText: member.name })
      .getByRole('button', { name: 'Approve', exact: true })
      .click();
    await expect(member.page.getByLabel('Message', { exact: true })).toBeVisible();
  }

  await ben.page.goto('/account');
  await ben.page.getByRole('checkbox', { name: 'Browser notifications' }).check();
  await ben.page.goto(`/room/${roomId}`);
  await expect(ben.status()).toHaveText('Connected');
  await hideKnock(ben);

  // Messages that do not name Ben, one naming another member: seen, not notified.
  await ann.send('lunch at noon?');
  await ann.send(`@${cy.name} you too`);
  await expect(ben.message(`@${cy.name} you too`)).toBeVisible();
  expect(await shownNotifications(ben)).toEqual([]);

  // Named by his username: a notification, and only that one.
  await ann.send(`@${ben.name} are you in?`);
  await expect.poll(() => shownNotifications(ben)).toEqual([
    { title: `${ann.name} mentioned you in Mentions`, body: `@${ben.name} are you in?` },
  ]);

  // Looking at the page, a mention is seen there: no notification.
  await showKnock(ben);
  await ann.send(`@${ben.name} and the dessert?`);
  await expect(ben.message('and the dessert?')).toBeVisible();
  await ann.send('done');
  await expect(ben.message('done')).toBeVisible();
  expect(await shownNotifications(ben)).toHaveLength(1);
});
