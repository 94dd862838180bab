import { devices, type BrowserContextOptions, type Locator } from '@playwright/test';
import { test, expect, messageRow as row, openMessageMenu as openMenu, type User } from './fixtures';

/**
 * Edit, delete and reply (issue 18): from a message's menu, seen live by the other
 * member, after a reload, and by a member who was offline meanwhile; on a touch screen,
 * the menu opens by a long press.
 */

async function inRoomTogether(
  newUser: (prefix: string, options?: BrowserContextOptions) => Promise<User>,
  benOptions?: BrowserContextOptions,
) {
  const ann = await newUser('eda');
  const ben = await newUser('edb', benOptions);
  const roomId = await ann.createRoom('Edits');
  await ben.askToJoin(roomId);
  await ann.page
    .getByRole('region', { name: /Join requests/ })
    .getByRole('button', { name: 'Approve', exact: true })
    .click();
  await expect(ben.page.getByLabel('Message', { exact: true })).toBeVisible();
  return { ann, ben, roomId };
}

test('edit and delete a message, seen live and after a reload', async ({ newUser }) => {
  const { ann, ben } = await inRoomTogether(newUser);
  await ann.send('see you at 5');
  await expect(ben.message('see you at 5')).toBeVisible();

  // Ben may only reply to Ann's message; Ann may edit and delete it.
  await openMenu(ben, 'see you at 5');
  await expect(row(ben, 'see you at 5').getByRole('button', { name: 'Reply' })).toBeVisible();
  await expect(row(ben, 'see you at 5').getByRole('button', { name: 'Edit' })).toHaveCount(0);
  await expect(row(ben, 'see you at 5').getByRole('button', { name: 'Delete' })).toHaveCount(0);
  await ben.page.keyboard.press('Escape');

  const mine = await openMenu(ann, 'see you at 5');
  await mine.getByRole('button', { name: 'Edit' }).click();
  const box = ann.page.getByRole('textbox', { name: 'Edit message' });
  await expect(box).toBeFocused();
  await box.fill('see you at 6');
  await box.press('Enter');
  for (const user of [ann, ben]) {
    await expect(row(user, 'see you at 6')).toContainText('(edited)');
    await expect(user.message('see you at 5')).toHaveCount(0);
  }

  // Escape leaves an edit without changing anything.
  await (await openMenu(ann, 'see you at 6')).getByRole('button', { name: 'Edit' }).click();
  await box.fill('never sent');
  await box.press('Escape');
  await expect(ann.message('see you at 6')).toBeVisible();

  await ann.send('oops, wrong room');
  await expect(ben.message('oops, wrong room')).toBeVisible();
  const oops = await openMenu(ann, 'oops, wrong room');
  await oops.getByRole('button', { name: 'Delete' }).click();
  await oops.getByRole('button', { name: 'Delete for everyone' }).click();
  for (const user of [ann, ben]) {
    await expect(user.message('oops, wrong room')).toHaveCount(0);
    await expect(user.page.locator('.messages .msg.deleted')).toHaveText(/Message deleted/);
  }

  // After a reload: the edited text with its marker, the tombstone.
  await ben.page.reload();
  await expect(row(ben, 'see you at 6')).toContainText('(edited)');
  await expect(ben.page.locator('.messages .msg.deleted')).toHaveText(/Message deleted/);
  await expect(ben.message('oops, wrong room')).toHaveCount(0);
});

test('a member offline during an edit and a deletion sees both when back', async ({ newUser }) => {
  const { ann, ben } = await inRoomTogether(newUser);
  await ann.send('first draft');
  await ann.send('to be removed');
  await expect(ben.message('to be removed')).toBeVisible();

  await ben.context.setOffline(true);
  await expect(ben.status()).not.toHaveText('Connected');
  await (await openMenu(ann, 'first draft')).getByRole('button', { name: 'Edit' }).click();
  const box = ann.page.getByRole('textbox', { name: 'Edit message' });
  await box.fill('final text');
  await box.press('Enter');
  const gone = await openMenu(ann, 'to be removed');
  await gone.getByRole('button', { name: 'Delete' }).click();
  await gone.getByRole('button', { name: 'Delete for everyone' }).click();
  await ann.send('after all that');

  await ben.context.setOffline(false);
  await expect(ben.status()).toHaveText('Connected');
  await expect(ben.message('after all that')).toBeVisible();
  await expect(row(ben, 'final text')).toContainText('(edited)');
  await expect(ben.message('first draft')).toHaveCount(0);
  await expect(ben.message('to be removed')).toHaveCount(0);
  await expect(ben.page.locator('.messages .msg.deleted')).toHaveCount(1);
});

test('reply to a message: the quote in the composer, in the room, and when the answered message changes', async ({
  newUser,
}) => {
  const { ann, ben } = await inRoomTogether(newUser);
  await ann.send('who brings the cake?');
  await expect(ben.message('who brings the cake?')).toBeVisible();

  await (await openMenu(ben, 'who brings the cake?')).getByRole('button', { name: 'Reply' }).click();
  const composer = ben.page.getByLabel('Message', { exact: true });
  await expect(composer).toBeFocused();
  await expect(ben.page.locator('.reply-bar')).toContainText(`Replying to ${ann.name}: who brings the cake?`);
  // Cancelled and started again.
  await ben.page.getByRole('button', { name: 'Cancel reply' }).click();
  await expect(ben.page.locator('.reply-bar')).toHaveCount(0);
  await (await openMenu(ben, 'who brings the cake?')).getByRole('button', { name: 'Reply' }).click();
  await ben.send('I do');
  await expect(ben.page.locator('.reply-bar')).toHaveCount(0);

  for (const user of [ann, ben]) {
    await expect(row(user, 'I do').locator('.msg-quote')).toHaveText(`In reply to ${ann.name}: who brings the cake?`);
  }
  // The quote follows the answered message: edited, then deleted.
  await (await openMenu(ann, 'who brings the cake?')).getByRole('button', { name: 'Edit' }).click();
  const box = ann.page.getByRole('textbox', { name: 'Edit message' });
  await box.fill('who brings the pie?');
  await box.press('Enter');
  await expect(row(ben, 'I do').locator('.msg-quote')).toHaveText(`In reply to ${ann.name}: who brings the pie?`);
  const original = await openMenu(ann, 'who brings the pie?');
  await original.getByRole('button', { name: 'Delete' }).click();
  await original.getByRole('button', { name: 'Delete for everyone' }).click();
  await expect(row(ben, 'I do').locator('.msg-quote')).toHaveText(`In reply to ${ann.name}: Message deleted`);
  await ben.page.reload();
  await expect(row(ben, 'I do').locator('.msg-quote')).toHaveText(`In reply to ${ann.name}: Message deleted`);
});

/** Where a finger would touch `target`: its middle, in the page's coordinates. */
async function middleOf(target: Locator) {
  const box = await target.boundingBox();
  expect(box, 'the message is laid out').not.toBeNull();
  return { x: box!.x + box!.width / 2, y: box!.y + box!.height / 2 };
}

/**
 * A finger rests on `target` until `opened` shows, then lifts: real touch events from the
 * browser's input pipeline (touchstart, and touchend on lifting), as on a phone.
 */
async function longPress(user: User, target: Locator, opened: Locator) {
  const point = await middleOf(target);
  const cdp = await user.context.newCDPSession(user.page);
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: [point] });
  await expect(opened).toBeVisible();
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
  await cdp.detach();
}

test('on a touch screen a long press opens the message menu, a tap does not', async ({ newUser }) => {
  const { ann, ben } = await inRoomTogether(newUser, { ...devices['Pixel 5'] });
  await ann.send('anyone for tennis?');
  await ben.send('maybe later');
  await expect(ben.message('anyone for tennis?')).toBeVisible();
  await expect(ben.message('maybe later')).toBeVisible();
  const theirs = row(ben, 'anyone for tennis?');
  const mine = row(ben, 'maybe later');
  const theirMenu = theirs.getByRole('group', { name: 'Message actions' });
  const myMenu = mine.getByRole('group', { name: 'Message actions' });

  // A tap on Ann's message, then a long press on Ben's own: only the held one opens.
  const tapped = await middleOf(ben.message('anyone for tennis?'));
  await ben.page.touchscreen.tap(tapped.x, tapped.y);
  await longPress(ben, ben.message('maybe later'), myMenu);
  await expect(theirMenu).toHaveCount(0);
  await expect(theirs.getByRole('button', { name: 'Message actions' })).toHaveAttribute('aria-expanded', 'false');

  // Its actions work by touch: Edit.
  await myMenu.getByRole('button', { name: 'Edit' }).tap();
  const box = ben.page.getByRole('textbox', { name: 'Edit message' });
  await expect(box).toBeFocused();
  await box.fill('yes, at 4');
  await ben.page.getByRole('button', { name: 'Save', exact: true }).tap();
  await expect(row(ann, 'yes, at 4')).toContainText('(edited)');

  // A long press on Ann's message: Reply.
  await longPress(ben, ben.message('anyone for tennis?'), theirMenu);
  await expect(theirMenu.getByRole('button', { name: 'Edit' })).toHaveCount(0);
  await theirMenu.getByRole('button', { name: 'Reply' }).tap();
  await expect(ben.page.locator('.reply-bar')).toContainText(`Replying to ${ann.name}: anyone for tennis?`);
  await ben.send('count me in');
  await expect(row(ann, 'count me in').locator('.msg-quote')).toHaveText(`In reply to ${ann.name}: anyone for tennis?`);
});
