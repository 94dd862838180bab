import { test, expect, User, PASSWORD, username, screenshot } from './fixtures';

test('the sign-in form has labelled fields and named buttons', async ({ page, knock }) => {
  await page.goto('/');
  await expect(page.getByLabel('Username')).toBeVisible();
  await expect(page.getByLabel('Password')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeEnabled();
  await expect(page.getByRole('button', { name: 'Create account' })).toBeEnabled();
  await screenshot(page, knock, 'sign-in');
});

test('create an account, stay signed in across reloads, sign out, sign in again', async ({ browser, knock }) => {
  const name = username('ann');
  const ann = await User.signUp(browser, knock.appUrl, name);
  const { page } = ann;
  await expect(page.locator('.account-name')).toHaveText(name);

  await page.reload();
  await expect(page.getByRole('button', { name: 'Sign out' })).toBeVisible();
  await expect(ann.status()).toHaveText('Connected');

  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeVisible();
  await page.reload();
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeVisible();

  await page.getByLabel('Username').fill(name);
  await page.getByLabel('Password').fill('wrong password!');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toHaveText('Wrong username or password.');

  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('button', { name: 'Sign out' })).toBeVisible();
  await expect(ann.status()).toHaveText('Connected');
  await ann.context.close();
});

test('registration problems are explained on the form', async ({ browser, knock }) => {
  const taken = username('bea');
  const bea = await User.signUp(browser, knock.appUrl, taken);
  await bea.context.close();

  const other = await User.open(browser, knock.appUrl, taken);
  const { page } = other;
  await page.getByLabel('Username').fill(taken);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByRole('alert')).toHaveText('That username is taken. Try another one.');

  await page.getByLabel('Username').fill('x');
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByRole('alert')).toContainText('Usernames have 3 to 32 characters');

  await page.getByLabel('Username').fill(username('cal'));
  await page.getByLabel('Password').fill('short');
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByRole('alert')).toContainText('at least 8 characters');
  await other.context.close();
});

test('the keyboard alone signs in and chats', async ({ browser, knock }) => {
  const name = username('kay');
  const first = await User.signUp(browser, knock.appUrl, name);
  await first.context.close();

  const user = await User.open(browser, knock.appUrl, name);
  const { page } = user;
  await page.getByLabel('Username').focus();
  await page.keyboard.type(name);
  await page.keyboard.press('Tab');
  await page.keyboard.type(PASSWORD);
  await page.keyboard.press('Enter');
  await expect(user.status()).toHaveText('Connected');

  await page.getByLabel('Room name').focus();
  await page.keyboard.type('Keyboard club');
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { level: 1, name: 'Keyboard club' })).toBeVisible();
  await page.getByLabel('Message', { exact: true }).focus();
  await page.keyboard.type('typed, not clicked');
  await page.keyboard.press('Enter');
  await expect(user.message('typed, not clicked')).toBeVisible();
  await user.context.close();
});
