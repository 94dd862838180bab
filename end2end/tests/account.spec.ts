import { readFileSync } from 'node:fs';
import type { Browser } from '@playwright/test';
import {
  test,
  expect,
  expectAccessible,
  expectAccessibleEverywhere,
  User,
  PASSWORD,
  username,
  screenshot,
  type Knock,
} from './fixtures';

/** Another device of an existing user: a context of its own, signed in with the form. */
async function signIn(browser: Browser, knock: Knock, name: string, password = PASSWORD) {
  const user = await User.open(browser, knock.appUrl, name);
  await user.page.getByLabel('Username').fill(name);
  await user.page.getByLabel('Password').fill(password);
  await user.page.getByRole('button', { name: 'Sign in' }).click();
  await expect(user.status()).toHaveText('Connected');
  return user;
}

/** The account page, reached from the header's link. */
async function openAccount(user: User) {
  const { page } = user;
  await page.getByRole('link', { name: 'Account' }).click();
  await expect(page).toHaveURL(/\/account$/);
  await expect(page.getByRole('heading', { level: 1, name: 'Account' })).toBeVisible();
  return page.getByRole('list', { name: 'Sessions' });
}

/** Back at the sign-in form, with this sentence above it. */
async function expectSignedOut(user: User, notice: string | RegExp) {
  await expect(user.page.getByRole('button', { name: 'Sign in' })).toBeVisible();
  await expect(user.page.locator('.flash')).toHaveText(notice);
}

test('two devices: the first lists both and signs the other out', async ({ browser, knock }) => {
  const name = username('ses');
  const laptop = await User.signUp(browser, knock.appUrl, name);
  const phone = await signIn(browser, knock, name);

  const sessions = await openAccount(laptop);
  await expect(laptop.page.getByText(`Signed in as ${name}`)).toBeVisible();
  const rows = sessions.getByRole('listitem');
  await expect(rows).toHaveCount(2);
  // This device comes first, is named by its browser and has no "Sign out" of its own.
  const mine = rows.filter({ hasText: 'This device' });
  await expect(mine).toHaveCount(1);
  await expect(rows.first()).toContainText('This device');
  await expect(mine).toContainText('Chrome on Linux');
  await expect(mine).toContainText(/Last used just now/);
  await expect(mine.getByRole('button', { name: 'Sign out' })).toHaveCount(0);
  // The full user agent is there for whoever wants it.
  await mine.getByText('Browser details').click();
  await expect(mine.locator('code')).toContainText('Mozilla/5.0');
  await screenshot(laptop.page, knock, 'account');

  const other = rows.filter({ hasNotText: 'This device' });
  const signOut = other.getByRole('button', { name: 'Sign out' });
  // Its description says which device it signs out.
  await expect(signOut).toHaveAccessibleDescription(/Chrome on Linux Last used/);
  await signOut.click();
  await expect(rows).toHaveCount(1);

  // The other device is back at sign-in at once, told why.
  await expectSignedOut(phone, 'You were signed out. Sign in again to continue.');
  // This one is still signed in and connected.
  await expect(laptop.status()).toHaveText('Connected');
  await laptop.page.reload();
  await expect(sessions.getByRole('listitem')).toHaveCount(1);
});

test('"Sign out everywhere" asks once, then signs out every device, this one too', async ({ browser, knock }) => {
  const name = username('eve');
  const laptop = await User.signUp(browser, knock.appUrl, name);
  const phone = await signIn(browser, knock, name);
  const sessions = await openAccount(laptop);
  await expect(sessions.getByRole('listitem')).toHaveCount(2);

  const { page } = laptop;
  const everywhere = page.getByRole('button', { name: 'Sign out everywhere', exact: true });
  await expect(everywhere).toHaveAttribute('aria-expanded', 'false');
  await everywhere.click();
  await expect(everywhere).toHaveAttribute('aria-expanded', 'true');
  const confirm = page.getByRole('form', { name: 'Sign out on every device?' });
  await expect(confirm).toBeVisible();
  // Cancel closes it and changes nothing.
  await confirm.getByRole('button', { name: 'Cancel' }).click();
  await expect(confirm).toBeHidden();
  await expect(everywhere).toBeFocused();

  await everywhere.click();
  await confirm.getByRole('button', { name: 'Yes, sign out everywhere' }).click();
  await expectSignedOut(laptop, 'You were signed out on every device.');
  await expect(page).toHaveURL(/\/$/);
  await expectSignedOut(phone, 'You were signed out. Sign in again to continue.');

  // Signing in again works, with a new session.
  await page.getByLabel('Username').fill(name);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(laptop.status()).toHaveText('Connected');
});

test('change password: checked at each field, then the other devices are signed out and only the new one works', async ({
  browser,
  knock,
}) => {
  const name = username('pat');
  const laptop = await User.signUp(browser, knock.appUrl, name);
  const phone = await signIn(browser, knock, name);
  const sessions = await openAccount(laptop);
  await expect(sessions.getByRole('listitem')).toHaveCount(2);

  const { page } = laptop;
  const current = page.getByLabel('Current password', { exact: true });
  const fresh = page.getByLabel('New password', { exact: true });
  const again = page.getByLabel('Confirm new password', { exact: true });
  const change = page.getByRole('button', { name: 'Change password' });
  const NEW_PASSWORD = 'a much better passphrase';

  // Checked before asking the server: too short, then not the same twice.
  await current.fill(PASSWORD);
  await fresh.fill('short');
  await again.fill('short');
  await change.click();
  await expect(fresh).toHaveAttribute('aria-invalid', 'true');
  await expect(fresh).toHaveAccessibleDescription(/at least 8 characters/);
  await expect(fresh).toBeFocused();
  await fresh.fill(NEW_PASSWORD);
  await expect(fresh).toHaveAttribute('aria-invalid', 'false');
  await again.fill(`${NEW_PASSWORD}!`);
  await change.click();
  await expect(again).toHaveAccessibleDescription('The two new passwords are not the same.');
  await expect(again).toBeFocused();

  // A wrong current password: the server says no, at that field.
  await current.fill('not my password');
  await again.fill(NEW_PASSWORD);
  await change.click();
  await expect(current).toHaveAccessibleDescription('That is not your current password.');
  await expect(current).toBeFocused();
  await expectAccessible(page, 'with a refused password change');
  await expect(phone.status()).toHaveText('Connected');

  await current.fill(PASSWORD);
  await change.click();
  await expect(page.getByRole('status').filter({ hasText: 'Your password was changed' })).toHaveText(
    'Your password was changed. Every other device was signed out.',
  );
  await expect(current).toHaveValue('');
  await expect(sessions.getByRole('listitem')).toHaveCount(1);
  await expect(laptop.status()).toHaveText('Connected');
  await expectSignedOut(phone, 'You were signed out. Sign in again to continue.');

  // The old password no longer signs in; the new one does.
  await phone.page.getByLabel('Username').fill(name);
  await phone.page.getByLabel('Password').fill(PASSWORD);
  await phone.page.getByRole('button', { name: 'Sign in' }).click();
  await expect(phone.page.getByRole('alert')).toHaveText('Wrong username or password.');
  await phone.page.getByLabel('Password').fill(NEW_PASSWORD);
  await phone.page.getByRole('button', { name: 'Sign in' }).click();
  await expect(phone.status()).toHaveText('Connected');
});

test('download my data: a JSON file named after the user and the date, with their messages', async ({
  newUser,
}) => {
  const ann = await newUser('dl');
  await ann.createRoom('Export club');
  await ann.send('remember this line');
  // Stored (acknowledged), not only shown.
  await expect(ann.page.locator('.msg.mine:not(.outgoing)', { hasText: 'remember this line' })).toBeVisible();

  await openAccount(ann);
  const { page } = ann;
  const downloaded = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download my data' }).click();
  const download = await downloaded;
  expect(download.suggestedFilename()).toMatch(new RegExp(`^knock-${ann.name}-\\d{4}-\\d{2}-\\d{2}\\.json$`));
  const data = JSON.parse(readFileSync((await download.path())!, 'utf8'));
  expect(data.user.userId).toBe(ann.name);
  expect(data.rooms.map((r: { roomName: string }) => r.roomName)).toContain('Export club');
  expect(data.messages.map((m: { message: string }) => m.message)).toContain('remember this line');
  await expect(page.getByRole('status').filter({ hasText: 'Saved as' })).toHaveText(
    `Saved as ${download.suggestedFilename()}.`,
  );
});

test('delete account: the password again, then signed out with a notice; the name no longer signs in and the messages stay, by "Deleted user"', async ({
  newUser,
}) => {
  const dan = await newUser('dan');
  const eve = await newUser('eve');
  const roomId = await dan.createRoom('Farewell');
  await dan.send('goodbye from dan');
  await eve.askToJoin(roomId);
  await dan.page.getByRole('region', { name: /Join requests/ }).getByRole('button', { name: 'Approve' }).click();
  await expect(eve.message('goodbye from dan')).toBeVisible();
  await expect(eve.page.locator('.msg', { hasText: 'goodbye from dan' }).locator('.msg-author')).toHaveText(dan.name);

  await openAccount(dan);
  const { page } = dan;
  const open = page.getByRole('button', { name: 'Delete account', exact: true });
  await expect(open).toHaveAttribute('aria-expanded', 'false');
  await open.click();
  const confirm = page.getByRole('form', { name: 'Delete your account for good?' });
  const password = confirm.getByLabel('Your password');
  await expect(password).toBeFocused();
  // Nothing typed, then a wrong password: said at the field, nothing deleted.
  await confirm.getByRole('button', { name: 'Yes, delete my account' }).click();
  await expect(password).toHaveAccessibleDescription('Enter your password.');
  await password.fill('not my password');
  await confirm.getByRole('button', { name: 'Yes, delete my account' }).click();
  await expect(password).toHaveAccessibleDescription('That is not your password.');
  await expect(password).toBeFocused();
  await expect(dan.status()).toHaveText('Connected');
  // The confirmations open, with a refusal, in light and dark, wide and on a phone.
  await page.getByRole('button', { name: 'Sign out everywhere', exact: true }).click();
  await expectAccessibleEverywhere(page, 'with both confirmations open');

  await password.fill(PASSWORD);
  await confirm.getByRole('button', { name: 'Yes, delete my account' }).click();
  await expectSignedOut(dan, 'Your account was deleted.');
  await expect(page).toHaveURL(/\/$/);
  await page.reload();
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeVisible();

  // The name no longer signs in.
  await page.getByLabel('Username').fill(dan.name);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toHaveText('Wrong username or password.');

  // Eve, the other member, now runs the room; dan's message stays, by "Deleted user".
  await expect(eve.page.locator('.members .member', { hasText: dan.name })).toHaveCount(0);
  await eve.page.reload();
  await expect(eve.message('goodbye from dan')).toBeVisible();
  await expect(eve.page.locator('.msg', { hasText: 'goodbye from dan' }).locator('.msg-author')).toHaveText(
    'Deleted user',
  );
  await expect(eve.page.locator('.members .member', { hasText: eve.name })).toContainText('admin');
});
