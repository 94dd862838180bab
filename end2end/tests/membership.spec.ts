import { test, expect, expectAccessible, type User } from './fixtures';

/**
 * Membership that can be taken back (issue 16): knocking with a message, rejecting with
 * a reason, withdrawing, "Approve all", leaving, several admins, removing, banning (a
 * member, or a knock) and unbanning, deleting a room, losing a room while offline. Every
 * person has their own browser context; controls are found by their accessible names.
 */

function requests(admin: User) {
  return admin.page.getByRole('region', { name: /Join requests/ });
}

function requestRow(admin: User, who: User) {
  return requests(admin).locator('li', { hasText: who.name });
}

/** An approved member's row in `viewer`'s member list. */
function memberRow(viewer: User, who: User) {
  return viewer.page.locator('.members .member:not(.pending):not(.banned)', { hasText: who.name });
}

function roomLink(user: User, name: string) {
  return user.page.locator('.room-link', { hasText: name });
}

/** Knocks from the home page's form, with a message to the admins when given. */
async function knock(user: User, roomId: string, message?: string) {
  const { page } = user;
  await page.goto('/');
  await expect(user.status()).toHaveText('Connected');
  await page.getByLabel('Room ID').fill(roomId);
  if (message !== undefined) await page.getByLabel('Message to the admins').fill(message);
  await page.getByRole('button', { name: 'Join', exact: true }).click();
}

async function approve(admin: User, who: User) {
  await requestRow(admin, who).getByRole('button', { name: 'Approve', exact: true }).click();
  await expect(who.page.getByLabel('Message', { exact: true })).toBeVisible();
}

/** Opens `who`'s menu in the admin's member list; returns their row. */
async function manage(admin: User, who: User) {
  const row = memberRow(admin, who);
  const button = row.getByRole('button', { name: 'Manage' });
  await expect(button).toHaveAccessibleDescription(who.name);
  await button.click();
  await expect(button).toHaveAttribute('aria-expanded', 'true');
  return row;
}

test('knock with a message, reject with a reason, the cooldown, withdraw, approve all', async ({ newUser }) => {
  const admin = await newUser('kad');
  const asker = await newUser('kas');
  const shy = await newUser('ksh');
  const third = await newUser('kth');
  const roomId = await admin.createRoom('Knock room');
  await admin.page.getByRole('link', { name: 'New or join' }).click();

  // A knock with a message: the form counts it, the admin reads it in the notice.
  const message = asker.page.getByLabel('Message to the admins');
  const count = asker.page.locator('#knock-message-count');
  await message.fill('Hi, I run the chess club');
  await expect(count).toContainText('24 / 500');
  // Counted in characters, as the server counts: 300 emoji (600 UTF-16 units, what a
  // `maxlength` would count) are kept whole.
  await message.fill('😀'.repeat(300));
  await expect(message).toHaveValue('😀'.repeat(300));
  await expect(count).toContainText('300 / 500');
  await message.fill('😀'.repeat(501));
  await expect(count).toContainText('501 / 500');
  await knock(asker, roomId, 'Hi, I run the chess club');
  await expect(asker.page.getByRole('heading', { name: 'Waiting for approval' })).toBeVisible();
  const notice = admin.page.locator('.notice', { hasText: `${asker.name} asks to join` });
  await expect(notice).toContainText('Hi, I run the chess club');
  for (const name of ['Approve', 'Reject', 'Ban']) {
    await expect(notice.getByRole('button', { name, exact: true })).toHaveAccessibleDescription(
      `${asker.name} asks to join Knock room Hi, I run the chess club`,
    );
  }

  // In the room: in the request panel and in the member list.
  await roomLink(admin, 'Knock room').click();
  const row = requestRow(admin, asker);
  await expect(row).toContainText('Hi, I run the chess club');
  await expect(admin.page.locator('.members .member.pending', { hasText: asker.name })).toContainText(
    'Hi, I run the chess club',
  );
  await expect(requests(admin).getByRole('button', { name: 'Approve all' })).toHaveCount(0);

  // Rejected with a reason, typed in the row; the knocker reads it.
  await row.getByRole('button', { name: 'Add a reason' }).click();
  await expect(row.getByLabel('Reason for rejecting')).toBeFocused();
  await row.getByLabel('Reason for rejecting').fill('Members of the book club only');
  await expectAccessible(admin.page, 'with a rejection reason typed');
  await row.getByRole('button', { name: 'Reject', exact: true }).click();
  await expect(requests(admin)).toBeHidden();
  await expect(notice).toBeHidden();
  await expect(asker.page.getByRole('heading', { name: 'Your request was rejected' })).toBeVisible();
  await expect(asker.page.locator('.panel')).toContainText('Reason: Members of the book club only');

  // Asking again at once: the server's cooldown, in minutes; no admin is alerted.
  await asker.page.getByLabel('Message to the admins').fill('Please?');
  await asker.page.getByRole('button', { name: 'Ask again' }).click();
  // (The tests' servers use a cooldown of seconds: "1 minute" is the least it says.)
  await expect(asker.page.locator('.panel').getByRole('alert')).toHaveText(
    'Your request was turned down recently. You can ask again in 1 minute.',
  );
  await expect(asker.page.getByRole('heading', { name: 'Your request was rejected' })).toBeVisible();
  await expect(requests(admin)).toBeHidden();

  // A knock withdrawn: gone from the knocker's list, and from the admin's alerts.
  await shy.askToJoin(roomId);
  await expect(requestRow(admin, shy)).toBeVisible();
  await expect(roomLink(shy, 'Knock room')).toContainText('Waiting for approval');
  await shy.page.getByRole('button', { name: 'Withdraw request' }).click();
  await expect(shy.page).toHaveURL(/\/$/);
  await expect(shy.page.locator('.notice')).toHaveText(/You withdrew your request to join Knock room\./);
  await expect(roomLink(shy, 'Knock room')).toHaveCount(0);
  await expect(requests(admin)).toBeHidden();
  await expect(admin.page).toHaveTitle('Knock');

  // Two wait: "Approve all" lets both in with one click.
  await shy.askToJoin(roomId);
  await third.askToJoin(roomId);
  await expect(requests(admin).locator('.request')).toHaveCount(2);
  await requests(admin).getByRole('button', { name: 'Approve all' }).click();
  await expect(requests(admin)).toBeHidden();
  for (const user of [shy, third]) {
    await expect(user.page.getByLabel('Message', { exact: true })).toBeVisible();
    await expect(memberRow(admin, user)).toBeVisible();
  }
  await expect(admin.page.locator('.notice')).toHaveCount(0);
});

test('leave with a confirmation; the last admin is told why not; several admins share the alerts', async ({
  newUser,
}) => {
  const admin = await newUser('lad');
  const member = await newUser('lme');
  const knocker = await newUser('lkn');
  const roomId = await admin.createRoom('Leaving room');
  await member.askToJoin(roomId);
  await approve(admin, member);

  // The only admin cannot leave while a member remains; the confirmation says why.
  await admin.page.getByRole('button', { name: 'Leave room' }).click();
  const confirm = admin.page.getByRole('form', { name: 'Leave this room?' });
  await expect(confirm.getByRole('button', { name: 'Cancel' })).toBeFocused();
  await expectAccessible(admin.page, 'with the leave confirmation open');
  await confirm.getByRole('button', { name: 'Yes, leave' }).click();
  await expect(confirm.getByRole('alert')).toHaveText(
    'You are the only admin here. Make another member an admin first, then try again.',
  );
  await confirm.getByRole('button', { name: 'Cancel' }).click();
  await expect(confirm).toBeHidden();

  // Make admin: the member sees it; another admin's menu offers no Remove or Ban.
  let row = await manage(admin, member);
  await expect(row.getByRole('button', { name: 'Remove', exact: true })).toBeVisible();
  await expect(row.getByRole('button', { name: 'Ban', exact: true })).toBeVisible();
  await expectAccessible(admin.page, 'with a member menu open');
  await row.getByRole('button', { name: 'Make admin' }).click();
  await expect(memberRow(admin, member).locator('.tag')).toHaveText('admin');
  await expect(member.page.locator('.room-head .tag')).toHaveText('admin');
  await expect(member.page.getByRole('button', { name: 'Delete room' })).toBeVisible();
  row = await manage(admin, member);
  await expect(row.getByRole('button', { name: 'Remove admin' })).toBeVisible();
  await expect(row.getByRole('button', { name: 'Remove', exact: true })).toHaveCount(0);
  await expect(row.getByRole('button', { name: 'Ban', exact: true })).toHaveCount(0);

  // Remove admin, and back.
  await row.getByRole('button', { name: 'Remove admin' }).click();
  await expect(memberRow(admin, member).locator('.tag')).toHaveCount(0);
  await expect(member.page.locator('.room-head .tag')).toHaveCount(0);
  await expect(member.page.getByRole('button', { name: 'Delete room' })).toHaveCount(0);
  row = await manage(admin, member);
  await row.getByRole('button', { name: 'Make admin' }).click();
  await expect(member.page.locator('.room-head .tag')).toHaveText('admin');

  // Both admins are alerted; when one decides, the other's alert goes.
  await knocker.askToJoin(roomId);
  for (const user of [admin, member]) {
    await expect(user.page.locator('.notice', { hasText: `${knocker.name} asks to join` })).toBeVisible();
  }
  await requestRow(member, knocker).getByRole('button', { name: 'Approve', exact: true }).click();
  await expect(knocker.page.getByLabel('Message', { exact: true })).toBeVisible();
  for (const user of [admin, member]) {
    await expect(user.page.locator('.notice')).toHaveCount(0);
    await expect(requests(user)).toBeHidden();
  }

  // Now the first admin may leave: the room leaves their list and page, with a notice.
  await admin.page.getByRole('button', { name: 'Leave room' }).click();
  await admin.page.getByRole('button', { name: 'Yes, leave' }).click();
  await expect(admin.page).toHaveURL(/\/$/);
  await expect(admin.page.locator('.notice')).toHaveText(/You left Leaving room\./);
  await expect(roomLink(admin, 'Leaving room')).toHaveCount(0);
  await expect(memberRow(member, admin)).toHaveCount(0);
  await expect(member.page.locator('.members h2 .count')).toHaveText('2');

  // A plain member leaves too.
  await knocker.page.getByRole('button', { name: 'Leave room' }).click();
  await knocker.page.getByRole('button', { name: 'Yes, leave' }).click();
  await expect(knocker.page).toHaveURL(/\/$/);
  await expect(roomLink(knocker, 'Leaving room')).toHaveCount(0);
  await expect(memberRow(member, knocker)).toHaveCount(0);
  await member.send('still here');
  await expect(member.message('still here')).toBeVisible();
});

/** The "Banned" heading and rows in `viewer`'s member list, shown or not. */
function bannedSection(viewer: User) {
  return viewer.page.locator('.members .member.banned, .members .subhead:text-is("Banned")');
}

test('remove and ban with reasons, the banned list and unban, delete a room by typing its name', async ({
  newUser,
}) => {
  const admin = await newUser('mad');
  const chatty = await newUser('mch');
  const spammer = await newUser('msp');
  const witness = await newUser('mwi');
  const roomId = await admin.createRoom('Moderated');
  for (const user of [witness, chatty, spammer]) {
    await user.askToJoin(roomId);
    await approve(admin, user);
  }
  await chatty.send('spoiler: it was the butler');
  await expect(admin.message('it was the butler')).toBeVisible();

  // Removed with a reason: the room leaves the member's view at once, with a notice.
  let row = await manage(admin, chatty);
  await row.getByLabel('Reason (optional)').fill('Spoilers');
  await row.getByRole('button', { name: 'Remove', exact: true }).click();
  await expect(memberRow(admin, chatty)).toHaveCount(0);
  await expect(chatty.page).toHaveURL(/\/$/);
  await expect(chatty.page.locator('.notice')).toHaveText(/You were removed from Moderated\. Reason: Spoilers/);
  await expect(roomLink(chatty, 'Moderated')).toHaveCount(0);
  // Nothing more reaches them (checked on the live page: a message for the room would
  // count as unread in the title); they may knock again from its address.
  await admin.send('after the removal');
  await expect(spammer.message('after the removal')).toBeVisible();
  await expect(witness.message('after the removal')).toBeVisible();
  await expect(chatty.page).toHaveTitle('Knock');
  await expect(chatty.page.getByText('after the removal')).toHaveCount(0);
  await chatty.page.evaluate((path) => {
    history.pushState(null, '', path);
    dispatchEvent(new PopStateEvent('popstate'));
  }, `/room/${roomId}`);
  await expect(chatty.page.getByRole('button', { name: 'Ask to join' })).toBeVisible();
  await expect(chatty.page.getByText('after the removal')).toHaveCount(0);
  await expect(chatty.page).toHaveTitle('Knock');
  await chatty.page.getByRole('button', { name: 'Ask to join' }).click();
  await expect(chatty.page.getByRole('heading', { name: 'Waiting for approval' })).toBeVisible();
  await expect(requestRow(admin, chatty)).toBeVisible();

  // Banned: gone from the room, listed under Banned for the admin only, knocks refused.
  row = await manage(admin, spammer);
  await row.getByRole('button', { name: 'Ban', exact: true }).click();
  await expect(spammer.page).toHaveURL(/\/$/);
  await expect(spammer.page.locator('.notice')).toHaveText(/You were banned from Moderated\./);
  await expect(roomLink(spammer, 'Moderated')).toHaveCount(0);
  const banned = admin.page.locator('.members .member.banned', { hasText: spammer.name });
  await expect(admin.page.getByRole('heading', { name: 'Banned' })).toBeVisible();
  await expect(banned.getByRole('button', { name: 'Unban' })).toHaveAccessibleDescription(spammer.name);
  // To a member, the banned user just left: no "Banned", no Unban.
  await expect(memberRow(witness, spammer)).toHaveCount(0);
  await expect(bannedSection(witness)).toHaveCount(0);
  await expect(witness.page.getByRole('button', { name: 'Unban' })).toHaveCount(0);
  // Knocking from the page they are on (no reload: the client keeps what it knew).
  await spammer.page.getByLabel('Room ID').fill(roomId);
  await spammer.page.getByRole('button', { name: 'Join', exact: true }).click();
  await expect(spammer.page.locator('form', { hasText: 'Join a room' }).getByRole('alert')).toHaveText(
    'You are banned from this room, so you cannot ask to join it.',
  );
  await expect(requestRow(admin, spammer)).toHaveCount(0);

  // Unbanned: told so, and may knock again.
  await banned.getByRole('button', { name: 'Unban' }).click();
  await expect(admin.page.getByRole('heading', { name: 'Banned' })).toHaveCount(0);
  await expect(spammer.page.locator('.notice', { hasText: 'You may ask to join Moderated again.' })).toBeVisible();
  await knock(spammer, roomId);
  await expect(spammer.page.getByRole('heading', { name: 'Waiting for approval' })).toBeVisible();

  // A knocker banned from the request itself, with the reason typed for a rejection:
  // never let in, told why; the alerts go; members see no "Banned".
  const knocked = requestRow(admin, spammer);
  const ban = knocked.getByRole('button', { name: 'Ban', exact: true });
  await expect(ban).toHaveAccessibleDescription(spammer.name);
  await expect(witness.page.locator('.members .member.pending', { hasText: spammer.name })).toBeVisible();
  await knocked.getByRole('button', { name: 'Add a reason' }).click();
  await knocked.getByLabel('Reason for rejecting').fill('Knocks every minute');
  await ban.click();
  await expect(spammer.page).toHaveURL(/\/$/);
  await expect(spammer.page.locator('.notice', { hasText: 'You were banned from Moderated.' })).toContainText(
    'Reason: Knocks every minute',
  );
  await expect(requestRow(admin, spammer)).toHaveCount(0);
  await expect(admin.page.locator('.notice', { hasText: `${spammer.name} asks to join` })).toHaveCount(0);
  await expect(banned).toContainText('Knocks every minute');
  await expect(witness.page.locator('.members .member.pending', { hasText: spammer.name })).toHaveCount(0);
  await expect(bannedSection(witness)).toHaveCount(0);
  await banned.getByRole('button', { name: 'Unban' }).click();
  await expect(banned).toHaveCount(0);
  await knock(spammer, roomId);
  await approve(admin, spammer);

  // Delete: only with the room's name typed; every member and waiting user sees it go.
  await admin.page.getByRole('button', { name: 'Delete room' }).click();
  const confirm = admin.page.getByRole('form', { name: 'Delete this room for everyone?' });
  const field = confirm.getByLabel('Type the room name to confirm');
  await expect(field).toBeFocused();
  const remove = confirm.getByRole('button', { name: 'Delete for everyone' });
  await expect(remove).toBeDisabled();
  await field.fill('moderated');
  await expect(remove).toBeDisabled();
  await expectAccessible(admin.page, 'with the delete confirmation open');
  await field.fill('Moderated');
  await expect(remove).toBeEnabled();
  await remove.click();
  for (const user of [admin, spammer, chatty, witness]) {
    await expect(user.page).toHaveURL(/\/$/);
    await expect(user.page.locator('.notice', { hasText: 'Moderated was deleted.' })).toBeVisible();
    await expect(roomLink(user, 'Moderated')).toHaveCount(0);
  }
  await admin.page.goto(`/room/${roomId}`);
  await expect(admin.page.getByText('There is no room with that ID.')).toBeVisible();
});

test('a room lost while offline leaves the view with a notice', async ({ newUser }) => {
  const admin = await newUser('oad');
  const member = await newUser('ome');
  const roomId = await admin.createRoom('Vanishing');
  await member.askToJoin(roomId);
  await approve(admin, member);
  await admin.send('before');
  await expect(member.message('before')).toBeVisible();

  // Removed while the member's network is down: nobody can tell them then.
  await member.context.setOffline(true);
  await expect(member.status()).toHaveText('Offline');
  const row = await manage(admin, member);
  await row.getByRole('button', { name: 'Remove', exact: true }).click();
  await expect(memberRow(admin, member)).toHaveCount(0);
  await expect(member.page.getByRole('heading', { level: 1, name: 'Vanishing' })).toBeVisible();

  // Back online: the room is not among theirs any more; it leaves the list and the page.
  await member.context.setOffline(false);
  await expect(member.status()).toHaveText('Connected');
  await expect(member.page).toHaveURL(/\/$/);
  await expect(member.page.locator('.notice')).toHaveText(/You no longer have access to Vanishing\./);
  await expect(roomLink(member, 'Vanishing')).toHaveCount(0);
  await admin.send('after');
  await expect(admin.message('after')).toBeVisible();
  await expect(member.page).toHaveTitle('Knock');
});
