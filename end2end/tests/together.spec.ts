import { test, expect, type User } from './fixtures';

/**
 * Being in a room together (issue 18): unread and mention counts kept by the server (after
 * a reload, on another device), the "New messages" divider, "… is typing", and who is
 * online in the member list.
 */

async function inRoomTogether(newUser: (prefix: string) => Promise<User>, name: string) {
  const ann = await newUser('tga');
  const ben = await newUser('tgb');
  const roomId = await ann.createRoom(name);
  await ben.askToJoin(roomId);
  await ann.page
    .getByRole('region', { name: /Join requests/ })
    .getByRole('button', { name: 'Approve', exact: true })
    .click();
  await expect(ben.page.getByLabel('Message', { exact: true })).toBeVisible();
  return { ann, ben, roomId };
}

function roomLink(user: User, name: string) {
  return user.page.locator('.room-link', { hasText: name });
}

test('unread and mention counts survive a reload and follow the reader to another device', async ({ newUser, browser }) => {
  const { ann, ben, roomId } = await inRoomTogether(newUser, 'Counts');
  // Ben looks elsewhere; Ann writes, once naming him.
  await ben.page.goto('/');
  await expect(ben.status()).toHaveText('Connected');
  await ann.send('first');
  // "@" and the start of a name offers the members; Enter picks one.
  const box = ann.page.getByLabel('Message', { exact: true });
  await box.pressSequentially(`@${ben.name.slice(0, 4)}`);
  const options = ann.page.getByRole('listbox', { name: 'Mention a member' });
  await expect(options.getByRole('option')).toHaveText([`@${ben.name}`]);
  await box.press('Enter');
  await expect(box).toHaveValue(`@${ben.name} `);
  await box.pressSequentially('can you come?');
  await box.press('Enter');
  await expect(ann.message('can you come?')).toBeVisible();
  await ann.send('third');
  const link = roomLink(ben, 'Counts');
  await expect(link.getByLabel('3 unread')).toBeVisible();
  await expect(link.getByLabel('1 mention')).toBeVisible();

  // A reload: the server's counts.
  await ben.page.reload();
  await expect(ben.status()).toHaveText('Connected');
  await expect(link.getByLabel('3 unread')).toBeVisible();
  await expect(link.getByLabel('1 mention')).toBeVisible();

  // A second device of Ben's sees the same, and reading on the first clears it there.
  const phone = await browser.newContext({ baseURL: ann.page.url() });
  const session = await ben.page.evaluate(() => localStorage.getItem('knock.session'));
  await phone.addInitScript((s) => localStorage.setItem('knock.session', s!), session);
  const other = await phone.newPage();
  await other.goto('/');
  const otherLink = other.locator('.room-link', { hasText: 'Counts' });
  await expect(otherLink.getByLabel('3 unread')).toBeVisible();

  await link.click();
  await expect(ben.page.getByRole('separator').filter({ hasText: 'New messages' })).toBeVisible();
  // The divider sits right before the first unread message.
  await expect(ben.page.locator('.unread-divider + .msg')).toContainText('first');
  await expect(link.getByLabel('3 unread')).toHaveCount(0);
  await expect(otherLink.getByLabel('3 unread')).toHaveCount(0);
  await expect(otherLink.getByLabel('1 mention')).toHaveCount(0);
  // The mention is marked in the message, for whom it names.
  await expect(ben.message('can you come?').locator('.mention-me')).toHaveText(`@${ben.name}`);
  await phone.close();

  // Read, then reloaded: nothing unread any more.
  await ben.page.goto('/');
  await expect(ben.status()).toHaveText('Connected');
  await expect(link).toBeVisible();
  await expect(link.locator('.badge')).toHaveCount(0);
  void roomId;
});

test('who is typing, and who is online', async ({ newUser }) => {
  const { ann, ben } = await inRoomTogether(newUser, 'Presence');
  const annRow = ben.page.locator('.members .member', { hasText: ann.name });
  const benRow = ann.page.locator('.members .member', { hasText: ben.name });
  await expect(annRow).toContainText('online');
  await expect(benRow).toContainText('online');

  await ben.page.getByLabel('Message', { exact: true }).pressSequentially('hel');
  await expect(ann.page.locator('.typing')).toHaveText(`${ben.name} is typing…`);
  await expect(ben.page.locator('.typing')).toHaveText('');
  // The message ends it.
  await ben.page.getByLabel('Message', { exact: true }).press('Enter');
  await expect(ann.message('hel')).toBeVisible();
  await expect(ann.page.locator('.typing')).toHaveText('');
  // It also ends by itself when Ben stops. (Typed slowly: the server forwards one
  // typing hint per user and room every two seconds or so.)
  await ben.page.getByLabel('Message', { exact: true }).pressSequentially('more to say', { delay: 300 });
  await expect(ann.page.locator('.typing')).toHaveText(`${ben.name} is typing…`);
  await expect(ann.page.locator('.typing')).toHaveText('', { timeout: 15_000 });

  // Ben closes his tab: Ann sees him go offline, and back.
  await ben.page.close();
  await expect(benRow).toContainText('offline');
  const back = await ben.context.newPage();
  await back.goto('/');
  await expect(benRow).toContainText('online');
});
