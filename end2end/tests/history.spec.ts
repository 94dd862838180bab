import { test, expect, sendRaw } from './fixtures';

test('history: newest page first, older pages on scrolling up, a marker for new messages below', async ({
  newUser,
  knock,
}) => {
  test.setTimeout(120_000);
  const admin = await newUser('hil');
  const reader = await newUser('rea');
  const roomId = await admin.createRoom('Long history');
  await reader.askToJoin(roomId);
  await admin.page.getByRole('region', { name: /Join requests/ }).getByRole('button', { name: 'Approve' }).click();
  await expect(reader.page.getByLabel('Message', { exact: true })).toBeVisible();

  const texts = Array.from({ length: 70 }, (_, i) => `history message ${String(i + 1).padStart(2, '0')}`);
  const wsUrl = knock.api.url.replace('http', 'ws') + '/ws';
  await sendRaw(admin.page, wsUrl, roomId, texts);
  await expect(admin.message('history message 70')).toBeVisible();

  // A fresh load shows the newest page, scrolled to the bottom.
  await reader.page.reload();
  await expect(reader.message('history message 70')).toBeInViewport();
  await expect(reader.message('history message 21')).toBeAttached();
  await expect(reader.message('history message 20')).toHaveCount(0);

  // Scrolling up loads the page before it, keeping what was on screen.
  await reader.page.locator('.messages-scroll').evaluate((el) => (el.scrollTop = 0));
  await expect(reader.message('history message 01')).toBeAttached();
  await expect(reader.page.getByText('This is the beginning of the room.')).toBeAttached();
  await expect(reader.messages()).toHaveCount(70);

  // Scrolled up, a new message does not yank the view: a marker appears instead.
  await reader.page.locator('.messages-scroll').evaluate((el) => (el.scrollTop = 0));
  await admin.send('news from the bottom');
  const marker = reader.page.getByRole('button', { name: 'New messages ↓' });
  await expect(marker).toBeVisible();
  await expect(reader.message('news from the bottom')).not.toBeInViewport();
  await marker.click();
  await expect(reader.message('news from the bottom')).toBeInViewport();
  await expect(marker).toBeHidden();

  // At the bottom, the view follows new messages.
  await admin.send('followed automatically');
  await expect(reader.message('followed automatically')).toBeInViewport();
});

test('a long absence: the newest messages at once, the rest on scrolling up, each once', async ({ newUser, knock }) => {
  test.setTimeout(120_000);
  const admin = await newUser('lon');
  const reader = await newUser('awa');
  const roomId = await admin.createRoom('Busy room');
  await reader.askToJoin(roomId);
  await admin.page.getByRole('region', { name: /Join requests/ }).getByRole('button', { name: 'Approve' }).click();
  await admin.send('before the break');
  await expect(reader.message('before the break')).toBeVisible();

  // The reader is away while 260 messages are said: more than one catch-up sends (200).
  await reader.context.setOffline(true);
  await expect(reader.status()).toHaveText('Offline');
  const texts = Array.from({ length: 260 }, (_, i) => `away ${String(i + 1).padStart(3, '0')}`);
  await sendRaw(admin.page, knock.api.url.replace('http', 'ws') + '/ws', roomId, texts);
  await expect(admin.message('away 260')).toBeVisible();

  // Back online: the newest messages, at the bottom, and nothing older yet.
  await reader.context.setOffline(false);
  await expect(reader.message('away 260')).toBeInViewport();
  await expect(reader.message('away 061')).toBeAttached();
  await expect(reader.message('away 060')).toHaveCount(0);
  await expect(reader.messages()).toHaveCount(200);

  // Scrolling up pages back through what was skipped to the start of the room.
  const beginning = reader.page.getByText('This is the beginning of the room.');
  for (let page = 0; page < 5 && !(await beginning.isVisible()); page++) {
    await reader.page.locator('.messages-scroll').evaluate((el) => (el.scrollTop = 0));
    await expect(reader.messages()).not.toHaveCount(200 + page * 50);
  }
  await expect(beginning).toBeVisible();
  await expect(reader.message('before the break')).toHaveCount(1);
  await expect(reader.message('away 030')).toHaveCount(1);
  await expect(reader.messages()).toHaveCount(261);
});
