import { test, expect, User, screenshot, username } from './fixtures';

test('admin approves a request live and both chat; outsiders see nothing', async ({ newUser, knock, browser }) => {
  const admin = await newUser('ada');
  const requester = await newUser('rob');
  const outsider = await newUser('oz');

  // Create a room: land in it as admin.
  const roomId = await admin.createRoom('Book club');
  await expect(admin.page.locator('.room-head .tag')).toHaveText('admin');
  await expect(admin.page.getByText('No messages yet. Say hello!')).toBeVisible();
  await admin.send('Welcome to the book club');
  await expect(admin.message('Welcome to the book club')).toBeVisible();

  // The admin goes to another room: the request must reach them there too.
  await admin.createRoom('Elsewhere');
  await expect(admin.page.locator('.room-link', { hasText: 'Book club' })).toBeVisible();

  // The requester asks to join by id and waits.
  await requester.askToJoin(roomId);
  await expect(requester.page.locator('.room-link', { hasText: 'Book club' })).toContainText('Waiting for approval');

  // The admin sees a live notification and a badge on the room.
  const notice = admin.page.locator('.notice', { hasText: `${requester.name} asks to join` });
  await expect(notice).toBeVisible();
  await expect(admin.page.locator('.room-link', { hasText: 'Book club' }).getByLabel('1 join request')).toBeVisible();
  await expect(admin.page).toHaveTitle('(1) Knock');
  await admin.page.getByRole('link', { name: 'New or join' }).click();
  await expect(admin.page.getByRole('heading', { name: 'Your rooms' })).toBeVisible();
  await expect(notice).toBeVisible();
  await screenshot(admin.page, knock, 'room-list');

  // In the room: the request with Approve and Reject, the member list with the admin.
  await admin.page.locator('.room-link', { hasText: 'Book club' }).click();
  const requests = admin.page.getByRole('region', { name: /Join requests/ });
  await expect(requests.getByText(requester.name)).toBeVisible();
  await expect(admin.page.locator('.members')).toContainText('Waiting for approval');
  await expect(admin.page.locator('.members .member', { hasText: admin.name })).toContainText('admin');
  await screenshot(admin.page, knock, 'room-admin-pending-request');
  await admin.page.emulateMedia({ colorScheme: 'dark' });
  await screenshot(admin.page, knock, 'room-admin-pending-request-dark');
  await admin.page.emulateMedia({ colorScheme: 'light' });

  await requests.getByRole('button', { name: 'Approve' }).click();
  await expect(requests).toBeHidden();
  await expect(notice).toBeHidden();
  await expect(admin.page.locator('.members .member', { hasText: requester.name })).toBeVisible();

  // The requester is let in without reloading and sees the history.
  await expect(requester.page.getByText('Welcome to the book club')).toBeVisible();
  await expect(requester.page.getByLabel('Message', { exact: true })).toBeVisible();

  // Chat both ways, live; own messages told apart.
  await requester.send('Hi everyone!');
  await expect(admin.message('Hi everyone!')).toBeVisible();
  await expect(requester.page.locator('.msg.mine', { hasText: 'Hi everyone!' })).toBeVisible();
  await expect(admin.page.locator('.msg:not(.mine)', { hasText: 'Hi everyone!' })).toContainText(requester.name);
  await admin.send('Glad you could join.\nFirst book: Dune.');
  await expect(requester.message('First book: Dune.')).toBeVisible();
  // Screen readers hear new messages from others.
  await expect(requester.page.locator('.messages-wrap [aria-live="polite"]')).toHaveText(
    `${admin.name}: Glad you could join.\nFirst book: Dune.`,
  );
  await expect(requester.page.locator('.msg', { hasText: 'First book' }).locator('time')).toHaveText(/\d/);

  // The outsider can neither list nor read the room, even with its address.
  await expect(outsider.page.locator('.room-link', { hasText: 'Book club' })).toHaveCount(0);
  await outsider.page.goto(`/room/${roomId}`);
  await expect(outsider.page.getByText('You are not a member of this room.')).toBeVisible();
  await expect(outsider.page.getByRole('button', { name: 'Ask to join' })).toBeVisible();
  await expect(outsider.page.getByText('Welcome to the book club')).toHaveCount(0);
  await expect(outsider.page.getByLabel('Message', { exact: true })).toHaveCount(0);

  // Reload keeps the session and the history.
  await requester.page.reload();
  await expect(requester.status()).toHaveText('Connected');
  await expect(requester.message('Welcome to the book club')).toBeVisible();
  await expect(requester.message('Hi everyone!')).toBeVisible();
  await expect(requester.message('First book: Dune.')).toBeVisible();

  // A new tab of the same user (same session) sees the same room.
  const secondTab = await requester.context.newPage();
  await secondTab.goto(`/room/${roomId}`);
  await expect(secondTab.locator('.messages .msg-text', { hasText: 'Hi everyone!' })).toBeVisible();
  void browser;
});

test('a rejected requester is told so, live, and may ask again', async ({ newUser }) => {
  const admin = await newUser('amy');
  const requester = await newUser('rex');
  const roomId = await admin.createRoom('Private');

  await requester.askToJoin(roomId);
  const requests = admin.page.getByRole('region', { name: /Join requests/ });
  await requests.getByRole('button', { name: 'Reject' }).click();
  await expect(requests).toBeHidden();

  await expect(requester.page.getByRole('heading', { name: 'Your request was rejected' })).toBeVisible();
  await expect(requester.page.locator('.notice')).toHaveCount(0);
  await expect(requester.page.getByLabel('Message', { exact: true })).toHaveCount(0);

  // At once: refused by the re-knock cooldown, and no admin is alerted.
  const again = requester.page.getByRole('button', { name: 'Ask again' });
  await again.click();
  await expect(requester.page.locator('.panel').getByRole('alert')).toHaveText(
    'Your request was turned down recently. You can ask again in 1 minute.',
  );
  await expect(requests).toBeHidden();
  // Once the cooldown has passed (KNOCK_COOLDOWN_SECS in the tests' servers), it goes.
  await expect(async () => {
    if (await again.isVisible()) await again.click();
    await expect(requester.page.getByRole('heading', { name: 'Waiting for approval' })).toBeVisible({
      timeout: 1_000,
    });
  }).toPass({ timeout: 20_000 });
  await expect(requests.getByText(requester.name)).toBeVisible();
});

test('an invite link opens the app with the room filled in, after sign-up', async ({ newUser, browser, knock }) => {
  const admin = await newUser('ivy');
  await admin.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: knock.appUrl });
  const roomId = await admin.createRoom('Invite only');
  await admin.page.getByRole('button', { name: 'Copy room ID' }).click();
  await expect(admin.page.getByText('Copied!')).toBeVisible();
  expect(await admin.page.evaluate(() => navigator.clipboard.readText())).toBe(roomId);
  await admin.page.getByRole('button', { name: 'Copy invite link' }).click();
  await expect.poll(() => admin.page.evaluate(() => navigator.clipboard.readText())).toBe(
    `${knock.appUrl}/join/${roomId}`,
  );
  const link = await admin.page.evaluate(() => navigator.clipboard.readText());

  // A newcomer opens the link while signed out.
  const guest = await User.open(browser, knock.appUrl, username('guest'), new URL(link).pathname);
  await expect(guest.page.getByText('You were invited to a room')).toBeVisible();
  await guest.createAccount();
  await expect(guest.page.getByLabel('Room ID')).toHaveValue(roomId);
  await guest.page.getByRole('button', { name: 'Join', exact: true }).click();
  await expect(guest.page.getByRole('heading', { name: 'Waiting for approval' })).toBeVisible();

  await admin.page.getByRole('region', { name: /Join requests/ }).getByRole('button', { name: 'Approve' }).click();
  await expect(guest.page.getByLabel('Message', { exact: true })).toBeVisible();
  await expect(guest.page).toHaveURL(new RegExp(`/room/${roomId}$`));
  await guest.context.close();
});

test('HTML and script in a message are shown as text', async ({ newUser }) => {
  const admin = await newUser('hal');
  const member = await newUser('mia');
  const roomId = await admin.createRoom('<b>Bold</b> room');
  await expect(admin.page.getByRole('heading', { level: 1 })).toContainText('<b>Bold</b> room');
  await member.askToJoin(roomId);
  await admin.page.getByRole('region', { name: /Join requests/ }).getByRole('button', { name: 'Approve' }).click();
  await expect(member.page.getByLabel('Message', { exact: true })).toBeVisible();

  let dialogs = 0;
  member.page.on('dialog', (d) => {
    dialogs += 1;
    void d.dismiss();
  });
  const evil = '<img src=x onerror="alert(1)"><script>alert(2)</script><b>not bold</b>';
  await admin.send(evil);
  const shown = member.page.locator('.msg-text').filter({ hasText: 'not bold' });
  await expect(shown).toHaveText(evil);
  await expect(member.page.locator('.messages img, .messages script, .messages b')).toHaveCount(0);
  await expect(admin.page.locator('.msg-text').filter({ hasText: 'not bold' })).toHaveText(evil);
  expect(dialogs).toBe(0);

  // A name or text that runs right to left, or forces it (U+202E), stays inside its own
  // element: the line's author and time keep their order and direction.
  await expect(admin.page.locator('.room-title bdi')).toHaveText('<b>Bold</b> room');
  await admin.send('\u202Eevil');
  const line = member.page.locator('.msg', { hasText: 'evil' });
  await expect(line.locator('.msg-text')).toHaveAttribute('dir', 'auto');
  await expect(line.locator('.msg-author')).toHaveAttribute('dir', 'auto');
  const order = await line.evaluate((li) => {
    const author = li.querySelector('.msg-author')!;
    const time = li.querySelector('.msg-time')!;
    return {
      meta: getComputedStyle(li.querySelector('.msg-meta')!).direction,
      author: getComputedStyle(author).direction,
      authorLeftOfTime: author.getBoundingClientRect().right <= time.getBoundingClientRect().left,
      text: getComputedStyle(li.querySelector('.msg-text')!).direction,
    };
  });
  expect(order).toEqual({ meta: 'ltr', author: 'ltr', authorLeftOfTime: true, text: 'ltr' });

  // Web links are clickable; nothing else becomes markup.
  await admin.send('read https://example.org/dune?x=1. not javascript:alert(3)');
  const link = member.page.locator('.msg-text a', { hasText: 'https://example.org/dune?x=1' });
  await expect(link).toHaveAttribute('href', 'https://example.org/dune?x=1');
  await expect(link).toHaveAttribute('rel', /noopener/);
  await expect(member.page.locator('.msg-text a')).toHaveCount(1);
});

test('server errors show where the user acted', async ({ newUser }) => {
  const user = await newUser('err');
  await user.page.getByLabel('Room ID').fill('00000000-0000-4000-8000-000000000000');
  await user.page.getByRole('button', { name: 'Join', exact: true }).click();
  await expect(user.page.locator('form', { hasText: 'Join a room' }).getByRole('alert')).toHaveText(
    'There is no room with that ID.',
  );

  // A name of nothing visible is refused at its field, before sending; a long one of
  // emoji is counted in characters (100 emoji are 200 UTF-16 units) and kept whole.
  const name = user.page.getByLabel('Room name');
  await name.fill(' \u200B\u200D\u202E ');
  await user.page.getByRole('button', { name: 'Create room' }).click();
  await expect(name).toHaveAttribute('aria-invalid', 'true');
  await expect(name).toHaveAccessibleDescription('A room name needs some visible characters.');
  await expect(name).toBeFocused();
  await expect(user.page).toHaveURL(/\/$/);
  await name.fill('😀'.repeat(100));
  await expect(name).toHaveValue('😀'.repeat(100));
  await user.page.getByRole('button', { name: 'Create room' }).click();
  await expect(user.page.getByRole('heading', { level: 1, name: '😀'.repeat(100) })).toBeVisible();

  await user.createRoom('Limits');
  const box = user.page.getByLabel('Message', { exact: true });
  await box.fill('x'.repeat(4001));
  await expect(user.page.locator('.counter')).toHaveText('4,001 / 4,000');
  await expect(user.page.getByRole('button', { name: 'Send' })).toBeDisabled();
  await box.press('Enter');
  await expect(user.page.locator('.composer').getByRole('alert')).toContainText('too long');
  // Shortened: the complaint goes with the text that caused it.
  await box.fill('x'.repeat(3999));
  await expect(user.page.locator('.composer').getByRole('alert')).toHaveCount(0);
  await expect(user.page.getByRole('button', { name: 'Send' })).toBeEnabled();
  await box.fill('Shift+Enter makes');
  await box.press('Shift+Enter');
  await box.pressSequentially('a new line');
  await expect(box).toHaveValue('Shift+Enter makes\na new line');
  await box.press('Enter');
  await expect(user.message('a new line')).toBeVisible();
  await expect(box).toHaveValue('');
});

test('sending fast: messages are paced to the limit and arrive in order, with no retry', async ({ newUser }) => {
  const user = await newUser('fas');
  const reader = await newUser('fasr');
  const roomId = await user.createRoom('Flood');
  await reader.askToJoin(roomId);
  await user.page.getByRole('region', { name: /Join requests/ }).getByRole('button', { name: 'Approve' }).click();
  await expect(reader.page.getByLabel('Message', { exact: true })).toBeVisible();

  // Forty messages typed and sent within a few milliseconds (in the page, so that the
  // test's own speed does not matter): twice what the server's burst allows.
  await user.page.getByLabel('Message', { exact: true }).evaluate((box: HTMLTextAreaElement) => {
    for (let i = 1; i <= 40; i++) {
      box.value = `burst ${i}`;
      box.dispatchEvent(new Event('input', { bubbles: true }));
      box.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true, cancelable: true }));
    }
  });
  const expected = Array.from({ length: 40 }, (_, i) => `burst ${i + 1}`);
  // Everyone sees all forty, once each, in the order typed; nothing needed a retry.
  const stored = (page: typeof user.page) => page.locator('.msg:not(.outgoing) .msg-text');
  await expect(stored(reader.page)).toHaveText(expected, { timeout: 30_000 });
  await expect(stored(user.page)).toHaveText(expected);
  await expect(user.page.locator('.msg.outgoing')).toHaveCount(0);
  await expect(user.page.getByRole('button', { name: 'Retry' })).toHaveCount(0);
  await expect(user.page.locator('.composer').getByRole('alert')).toHaveCount(0);
});
