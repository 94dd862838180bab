import { test, expect, screenshot } from './fixtures';

test('the server restarts mid-conversation: the UI says so, recovers by itself and catches up', async ({
  newUser,
  knock,
}) => {
  const admin = await newUser('ray');
  const member = await newUser('max');
  const roomId = await admin.createRoom('Resilient');
  await member.askToJoin(roomId);
  await admin.page.getByRole('region', { name: /Join requests/ }).getByRole('button', { name: 'Approve' }).click();
  await expect(member.page.getByLabel('Message', { exact: true })).toBeVisible();
  await admin.send('before the restart');
  await expect(member.message('before the restart')).toBeVisible();

  // The server goes away.
  await knock.api.stop();
  await expect(admin.status()).toContainText('Reconnecting');
  await expect(member.status()).toContainText('Reconnecting');

  // Meanwhile both keep using the app: a message sent now waits in the outbox, a draft
  // stays in the composer.
  await member.send('sent while the server was down');
  await expect(member.page.locator('.msg.outgoing', { hasText: 'sent while the server was down' })).toContainText(
    'Waiting for connection',
  );
  const adminBox = admin.page.getByLabel('Message', { exact: true });
  await adminBox.fill('a draft I keep typing');
  await expect(member.status()).toContainText('Reconnecting');
  await screenshot(member.page, knock, 'reconnecting');

  // Back on the same port and database: both reconnect without a reload.
  await knock.api.start();
  await expect(admin.status()).toHaveText('Connected', { timeout: 45_000 });
  await expect(member.status()).toHaveText('Connected', { timeout: 45_000 });

  // What was sent while the admin was away shows up, once, and the draft is intact.
  await expect(admin.message('sent while the server was down')).toHaveCount(1);
  await expect(member.page.locator('.msg.outgoing')).toHaveCount(0);
  await expect(member.message('sent while the server was down')).toHaveCount(1);
  await expect(adminBox).toHaveValue('a draft I keep typing');

  // And the conversation goes on, live, both ways.
  await admin.send('after the restart');
  await expect(member.message('after the restart')).toBeVisible();
  await member.send('still here');
  await expect(admin.message('still here')).toBeVisible();
  await expect(admin.message('before the restart')).toHaveCount(1);
});
