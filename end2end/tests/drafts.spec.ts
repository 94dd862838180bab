import { test, expect, PASSWORD } from './fixtures';

test('focus follows the next step, and drafts survive room switches and reloads', async ({ newUser }) => {
  const user = await newUser('dra');
  const { page } = user;
  // Signed up: ready to name a room.
  await expect(page.getByLabel('Room name')).toBeFocused();

  // Created: ready to write.
  await page.getByLabel('Room name').fill('Drafting');
  await page.getByRole('button', { name: 'Create room' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Drafting' })).toBeVisible();
  const box = page.getByLabel('Message', { exact: true });
  await expect(box).toBeFocused();
  await box.fill('half a thought for Drafting');

  await user.createRoom('Elsewhere');
  await expect(box).toHaveValue('');
  await box.fill('another one, for Elsewhere');

  await page.locator('.room-link', { hasText: 'Drafting' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Drafting' })).toBeVisible();
  await expect(box).toHaveValue('half a thought for Drafting');

  // A reload keeps both.
  await page.reload();
  await expect(user.status()).toHaveText('Connected');
  await expect(box).toHaveValue('half a thought for Drafting');
  await page.locator('.room-link', { hasText: 'Elsewhere' }).click();
  await expect(box).toHaveValue('another one, for Elsewhere');

  // Sent: the draft is gone, after a reload too.
  await box.press('Enter');
  await expect(user.message('another one, for Elsewhere')).toBeVisible();
  await expect(box).toHaveValue('');
  await page.reload();
  await expect(user.message('another one, for Elsewhere')).toBeVisible();
  await expect(box).toHaveValue('');

  // Signing out forgets what was typed: the next person on this computer sees nothing.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('Username').fill(user.name);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(user.status()).toHaveText('Connected');
  await page.locator('.room-link', { hasText: 'Drafting' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Drafting' })).toBeVisible();
  await expect(box).toHaveValue('');
  expect(await page.evaluate(() => localStorage.getItem('knock.drafts'))).toBeNull();
});

test('approving from a pop-up leaves the focus in the message box', async ({ newUser }) => {
  const admin = await newUser('foa');
  const guest = await newUser('fog');
  const roomId = await admin.createRoom('Focus room');
  await guest.askToJoin(roomId);
  const notice = admin.page.locator('.notice', { hasText: `${guest.name} asks to join` });
  await notice.getByRole('button', { name: 'Approve' }).click();
  await expect(notice).toBeHidden();
  await expect(admin.page.getByLabel('Message', { exact: true })).toBeFocused();
  await expect(guest.page.getByLabel('Message', { exact: true })).toBeVisible();
});
