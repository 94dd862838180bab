import { test, expect, requestRaw, wsUrlOf, type User } from './fixtures';

/**
 * Invite links an admin controls (issue 18): created with a label and a use limit,
 * copied, used to knock (the admin sees which link), used up, revoked, expired; and a
 * room that takes knocks by link only.
 */

async function openInviteLinks(admin: User) {
  const panel = admin.page.locator('details.invites');
  await panel.getByText('Invite links', { exact: true }).click();
  await expect(panel.getByText('Loading links…')).toHaveCount(0);
  return panel;
}

test('an admin makes a one-use link; it lets one person knock, then no one; revoked links stop', async ({
  newUser,
}) => {
  const admin = await newUser('iva');
  const ann = await newUser('ivn');
  const bo = await newUser('ivb');
  await admin.createRoom('Garden');
  const panel = await openInviteLinks(admin);
  await expect(panel.getByText('No links yet.')).toBeVisible();

  await panel.getByLabel('Label').fill('For Ann');
  await panel.getByLabel('Most uses').fill('1');
  await panel.getByRole('button', { name: 'Create link' }).click();
  const row = panel.locator('.invite', { hasText: 'For Ann' });
  await expect(row).toContainText('0 of 1 uses');
  const link = await row.getByRole('button', { name: 'Copy link' }).getAttribute('data-copy');
  expect(link).toMatch(/\/i\/[A-Za-z0-9_-]{22}$/);
  const path = new URL(link!).pathname;

  // Ann opens it: the room's name, and a knock that names the link.
  await ann.page.goto(path);
  await expect(ann.page.getByText('Garden', { exact: true })).toBeVisible();
  await ann.page.getByLabel('Message to the admins').fill('Hi, Sam sent this');
  await ann.page.getByRole('button', { name: 'Ask to join' }).click();
  await expect(ann.page.getByRole('heading', { name: 'Waiting for approval' })).toBeVisible();
  const request = admin.page.getByRole('region', { name: /Join requests/ }).locator('li', { hasText: ann.name });
  await expect(request).toContainText('Came with the invite link “For Ann”');
  await expect(row).toContainText('1 of 1 uses');

  // Used up: Bo is told so, and nothing waits for the admin.
  await bo.page.goto(path);
  await expect(bo.page.getByRole('alert')).toContainText(/used/i);

  // A second link, revoked: it stops at once.
  await panel.getByLabel('Label').fill('Party');
  await panel.getByRole('button', { name: 'Create link' }).click();
  const party = panel.locator('.invite', { hasText: 'Party' });
  const partyLink = await party.getByRole('button', { name: 'Copy link' }).getAttribute('data-copy');
  await party.getByRole('button', { name: 'Revoke' }).click();
  await expect(party).toHaveCount(0);
  await bo.page.goto(new URL(partyLink!).pathname);
  await expect(bo.page.getByRole('alert')).toContainText(/revoked|no longer/i);

  // After a reload the admin still sees the first link, used once.
  await admin.page.reload();
  const again = await openInviteLinks(admin);
  await expect(again.locator('.invite', { hasText: 'For Ann' })).toContainText('1 of 1 uses');
});

test('an invite-only room refuses knocks by room id and takes them by link', async ({ newUser }) => {
  const admin = await newUser('ioa');
  const cy = await newUser('ioc');
  const roomId = await admin.createRoom('Quiet garden');
  const panel = await openInviteLinks(admin);
  await panel.getByRole('checkbox', { name: 'Only people with an invite link can ask to join' }).check();
  await panel.getByRole('button', { name: 'Create link' }).click();
  const link = await panel.locator('.invite').first().getByRole('button', { name: 'Copy link' }).getAttribute('data-copy');

  await cy.page.goto('/');
  await expect(cy.status()).toHaveText('Connected');
  await cy.page.getByLabel('Room ID').fill(roomId);
  await cy.page.getByRole('button', { name: 'Join', exact: true }).click();
  await expect(cy.page.getByRole('alert')).toContainText(/invite link/i);

  // Pasting the link in the same box works.
  await cy.page.getByLabel('Room ID').fill(link!);
  await cy.page.getByRole('button', { name: 'Join', exact: true }).click();
  await expect(cy.page.getByText('Quiet garden', { exact: true })).toBeVisible();
  await cy.page.getByRole('button', { name: 'Ask to join' }).click();
  await expect(cy.page.getByRole('heading', { name: 'Waiting for approval' })).toBeVisible();

  // The setting survives a reload.
  await admin.page.reload();
  const again = await openInviteLinks(admin);
  await expect(again.getByRole('checkbox', { name: 'Only people with an invite link can ask to join' })).toBeChecked();
});

test('an expired link: a knock with it is refused, its page says so and offers no knock, the admin sees it expired', async ({
  newUser,
  knock,
}) => {
  const admin = await newUser('ixa');
  const ann = await newUser('ixn');
  const bo = await newUser('ixb');
  const roomId = await admin.createRoom('Orchard');
  const panel = await openInviteLinks(admin);
  // The form's shortest expiry is an hour; any client may ask for seconds.
  const ws = wsUrlOf(knock.api);
  const invite = await requestRaw(
    admin.page,
    ws,
    { action: 'createInvite', roomId, label: 'Brief', expiresInSecs: 4 },
    'invite',
  );
  const row = panel.locator('.invite', { hasText: 'Brief' });
  await expect(row).toContainText('0 uses · expires');
  const link = await row.getByRole('button', { name: 'Copy link' }).getAttribute('data-copy');
  expect(link).toContain(`/i/${invite.code}`);

  // Ann opens it while it works: the knock form.
  await ann.page.getByLabel('Room ID').fill(link!);
  await ann.page.getByRole('button', { name: 'Join', exact: true }).click();
  await expect(ann.page.getByText('Orchard', { exact: true })).toBeVisible();
  await expect(ann.page.getByRole('button', { name: 'Ask to join' })).toBeVisible();

  // The server's clock passes the link's expiry (asked as any client would)...
  await expect
    .poll(
      () =>
        requestRaw(bo.page, ws, { action: 'lookupInvite', code: invite.code }, 'inviteInfo').then(
          () => 'works',
          (e: Error) => e.message,
        ),
      { timeout: 20_000 },
    )
    .toContain('invite_expired');

  // ...and Ann's knock is refused, saying why; no admin hears of it.
  await ann.page.getByRole('button', { name: 'Ask to join' }).click();
  await expect(ann.page.getByRole('alert')).toContainText(/expired/i);
  await expect(ann.page.getByRole('heading', { name: 'Waiting for approval' })).toHaveCount(0);
  await expect(admin.page.getByRole('link', { name: /^Requests/ })).toHaveAccessibleName('Requests');

  // Opened now, the link's page says it no longer works and offers no knock.
  await bo.page.goto(new URL(link!).pathname);
  await expect(bo.page.getByRole('alert')).toContainText(/expired/i);
  await expect(bo.page.getByText('Ask whoever sent it for a new link.')).toBeVisible();
  await expect(bo.page.getByRole('button', { name: 'Ask to join' })).toHaveCount(0);

  // The admin's list marks it expired, unused.
  await admin.page.reload();
  const again = await openInviteLinks(admin);
  await expect(again.locator('.invite', { hasText: 'Brief' })).toContainText('0 uses · expired');
});
