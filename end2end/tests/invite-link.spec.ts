import { test, expect, type User } from './fixtures';
import type { Page } from '@playwright/test';

/**
 * Following a room's invite link (`/join/<id>`) when one already stands in the room
 * used to freeze the tab at full CPU. Each person here follows the link and must then
 * be able to use the page: a frozen renderer answers neither clicks nor `evaluate`.
 */

async function approve(admin: User, who: User) {
  const requests = admin.page.getByRole('region', { name: /Join requests/ });
  await requests.locator('li', { hasText: who.name }).getByRole('button', { name: 'Approve' }).click();
}

/** The page still runs script and answers the user. */
async function expectResponsive(page: Page) {
  expect(await page.evaluate(() => 1 + 1)).toBe(2);
  await page.getByRole('link', { name: 'Knock, home' }).focus();
  await expect(page.getByRole('link', { name: 'Knock, home' })).toBeFocused();
}

test('a member, the admin and a waiting user each follow the invite link and can go on', async ({ newUser, knock }) => {
  const admin = await newUser('inva');
  const member = await newUser('invm');
  const waiting = await newUser('invw');
  const roomId = await admin.createRoom('Linked room');
  const invite = `/join/${roomId}`;
  const roomUrl = new RegExp(`/room/${roomId}$`);

  await member.askToJoin(roomId);
  await approve(admin, member);
  await expect(member.page.getByLabel('Message', { exact: true })).toBeVisible();
  await waiting.askToJoin(roomId);

  // The admin opens their own room's link by a full page load.
  await admin.page.goto(invite);
  await expect(admin.page).toHaveURL(roomUrl);
  await expect(admin.page.getByRole('heading', { level: 1, name: /Linked room/ })).toBeVisible();
  await expectResponsive(admin.page);
  await admin.send('after the link, from the admin');
  await expect(member.message('after the link, from the admin')).toBeVisible();

  // The member does the same from the home page; Back returns home, not to the link.
  await member.page.goto('/');
  await expect(member.page.getByRole('heading', { name: 'Your rooms' })).toBeVisible();
  await member.page.goto(invite);
  await expect(member.page).toHaveURL(roomUrl);
  await expectResponsive(member.page);
  await member.send('after the link, from a member');
  await expect(admin.message('after the link, from a member')).toBeVisible();
  await member.page.goBack();
  await expect(member.page).toHaveURL(`${knock.appUrl}/`);
  await expect(member.page.getByRole('heading', { name: 'Your rooms' })).toBeVisible();
  await expectResponsive(member.page);

  // The link posted in the chat, clicked: it opens in a new tab, at the room.
  const fullLink = `${knock.appUrl}${invite}`;
  await admin.send(`join us: ${fullLink}`);
  await member.page.locator('.room-link', { hasText: 'Linked room' }).click();
  const [tab] = await Promise.all([
    member.context.waitForEvent('page'),
    member.page.locator('.msg-text a', { hasText: fullLink }).click(),
  ]);
  await expect(tab).toHaveURL(roomUrl);
  await expect(tab.locator('.messages .msg-text', { hasText: 'after the link, from a member' })).toBeVisible();
  await expectResponsive(tab);
  await tab.close();

  // Pasted into the join form inside the app: straight to the room.
  await member.page.getByRole('link', { name: 'Knock, home' }).click();
  await member.page.getByLabel('Room ID').fill(fullLink);
  await member.page.getByRole('button', { name: 'Join', exact: true }).click();
  await expect(member.page).toHaveURL(roomUrl);
  await expectResponsive(member.page);

  // The waiting user follows the link: the room's page says they are waiting, and the
  // conversation opens when the admin lets them in.
  await waiting.page.goto(invite);
  await expect(waiting.page).toHaveURL(roomUrl);
  await expect(waiting.page.getByRole('heading', { name: 'Waiting for approval' })).toBeVisible();
  await expectResponsive(waiting.page);
  await approve(admin, waiting);
  await expect(waiting.message('after the link, from a member')).toBeVisible();
  await waiting.send('let in after the link');
  await expect(admin.message('let in after the link')).toBeVisible();
});

test('someone who is not in the room stays on the invite page and can knock', async ({ newUser }) => {
  const admin = await newUser('inv2a');
  const guest = await newUser('inv2g');
  const roomId = await admin.createRoom('Open door');
  await guest.page.goto(`/join/${roomId}`);
  await expect(guest.page.getByText('You were invited to a room')).toBeVisible();
  // The page names the room and who runs it, and nothing more.
  await expect(guest.page.locator('.invite-room')).toHaveText(`Open door is run by ${admin.name}.`);
  await expectResponsive(guest.page);
  await expect(guest.page.getByLabel('Room ID')).toHaveValue(roomId);
  await guest.page.getByRole('button', { name: 'Join', exact: true }).click();
  await expect(guest.page.getByRole('heading', { name: 'Waiting for approval' })).toBeVisible();
  await expect(guest.page).toHaveURL(new RegExp(`/room/${roomId}$`));
});

test('an invite link names its room before signing in, and says when there is no such room', async ({ newUser, browser, knock }) => {
  const admin = await newUser('inv3a');
  const roomId = await admin.createRoom('Reading circle');
  const visitor = await browser.newContext({ baseURL: knock.appUrl });
  const page = await visitor.newPage();
  await page.goto(`/join/${roomId}`);
  await expect(page.getByRole('status').filter({ hasText: 'You were invited' })).toContainText(
    `Reading circle is run by ${admin.name}.`,
  );
  await page.goto('/join/00000000-0000-4000-8000-000000000000');
  await expect(page.getByRole('alert')).toHaveText('There is no room at this link. Ask whoever sent it for a new one.');
  await visitor.close();
});
