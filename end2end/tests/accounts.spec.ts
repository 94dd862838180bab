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
  // The focus goes back to the password, ready to type it again.
  await expect(page.getByLabel('Password')).toBeFocused();

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
  // Each problem shows next to its field, which is marked invalid, described by it and
  // focused.
  const user = page.getByLabel('Username');
  const password = page.getByLabel('Password');
  await expect(user).toHaveAccessibleDescription('That username is taken. Try another one.');
  await expect(user).toHaveAttribute('aria-invalid', 'true');
  await expect(user).toBeFocused();
  await expect(password).toHaveAttribute('aria-invalid', 'false');

  // Both fields wrong: both say so at once; the first takes the focus.
  await user.fill('x');
  await password.fill('short');
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(user).toHaveAccessibleDescription(/Usernames have 3 to 32 characters/);
  await expect(password).toHaveAccessibleDescription(/Passwords have at least 8 characters/);
  await expect(user).toHaveAttribute('aria-invalid', 'true');
  await expect(password).toHaveAttribute('aria-invalid', 'true');
  await expect(user).toBeFocused();

  // Fixing a field clears its error, not the other's.
  await user.fill(username('cal'));
  await expect(user).toHaveAttribute('aria-invalid', 'false');
  await expect(password).toHaveAttribute('aria-invalid', 'true');
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(password).toBeFocused();
  await expect(password).toHaveAccessibleDescription(/at least 8 characters/);
  await other.context.close();
});

test('after five wrong passwords the form says the account is locked, and for how long', async ({ browser, knock }) => {
  const name = username('lok');
  const owner = await User.signUp(browser, knock.appUrl, name);
  await owner.context.close();

  const user = await User.open(browser, knock.appUrl, name);
  const { page } = user;
  await page.getByLabel('Username').fill(name);
  for (let i = 0; i < 5; i++) {
    await page.getByLabel('Password').fill(`wrong guess ${i}`);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert')).toHaveText('Wrong username or password.');
    await expect(page.getByRole('button', { name: 'Sign in' })).toBeEnabled();
  }
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toHaveText(
    'Too many wrong passwords: signing in to this account from your address is locked for 15 minutes.',
  );
  await expect(page.getByText('You are going too fast')).toHaveCount(0);
  await user.context.close();
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
