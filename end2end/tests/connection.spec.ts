import { test, expect, type User } from './fixtures';

/** The header says "Offline" or "Reconnecting…" soon after the connection is gone. */

async function pair(newUser: (p: string) => Promise<User>, name: string) {
  const admin = await newUser(`${name}a`);
  const member = await newUser(`${name}m`);
  const roomId = await admin.createRoom(`Line ${name}`);
  await member.askToJoin(roomId);
  await admin.page.getByRole('region', { name: /Join requests/ }).getByRole('button', { name: 'Approve' }).click();
  await expect(member.page.getByLabel('Message', { exact: true })).toBeVisible();
  return { admin, member };
}

test('losing the network shows "Offline" at once, and messages wait and then arrive', async ({ newUser }) => {
  const { admin, member } = await pair(newUser, 'net');
  await member.context.setOffline(true);
  await expect(member.status()).toHaveText('Offline');

  await member.send('typed on the train');
  await expect(member.page.locator('.msg.outgoing', { hasText: 'typed on the train' })).toContainText(
    'Waiting for connection',
  );
  await expect(member.status()).toHaveText('Offline');

  await member.context.setOffline(false);
  await expect(member.status()).toHaveText('Connected');
  await expect(admin.message('typed on the train')).toHaveCount(1);
  await expect(member.page.locator('.msg.outgoing')).toHaveCount(0);
  await expect(member.message('typed on the train')).toHaveCount(1);
});

test('a server that stops answering is noticed within seconds, not a minute', async ({ newUser, knock }) => {
  const { admin, member } = await pair(newUser, 'hang');
  await admin.send('before the hang');
  await expect(member.message('before the hang')).toBeVisible();

  // The socket stays open, but nothing comes back: no ack, no pong.
  knock.api.freeze();
  try {
    await member.send('sent into the void');
    await expect(member.status()).toContainText('Reconnecting');
    await expect(member.page.locator('.msg.outgoing', { hasText: 'sent into the void' })).toContainText(
      'Waiting for connection',
    );
  } finally {
    knock.api.thaw();
  }

  await expect(member.status()).toHaveText('Connected', { timeout: 45_000 });
  await expect(admin.message('sent into the void')).toHaveCount(1);
  await expect(member.message('sent into the void')).toHaveCount(1);
  await expect(member.page.locator('.msg.outgoing')).toHaveCount(0);
});
