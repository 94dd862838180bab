import { test, expect, screenshot } from './fixtures';

test.use({ viewport: { width: 360, height: 740 } });

test('works on a 360 px wide screen', async ({ newUser, knock }) => {
  const admin = await newUser('nan');
  const member = await newUser('ned');
  for (const page of [admin.page, member.page]) await page.setViewportSize({ width: 360, height: 740 });

  const roomId = await admin.createRoom('Small screens');
  await member.askToJoin(roomId);
  const requests = admin.page.getByRole('region', { name: /Join requests/ });
  await expect(requests.getByRole('button', { name: 'Approve' })).toBeVisible();
  await requests.getByRole('button', { name: 'Approve' }).click();
  await expect(member.page.getByLabel('Message', { exact: true })).toBeVisible();

  await member.send('Hello from a phone');
  await admin.send('A longer answer that has to wrap on a narrow screen, without making the page scroll sideways.');
  await expect(member.message('without making the page scroll sideways')).toBeVisible();
  await expect(member.page.getByRole('button', { name: 'Send' })).toBeInViewport();
  await expect(member.page.getByRole('link', { name: 'Back to rooms' })).toBeVisible();

  const overflow = await member.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await screenshot(member.page, knock, 'room-narrow');

  // Back to the room list on the phone.
  await member.page.getByRole('link', { name: 'Back to rooms' }).click();
  await expect(member.page.locator('.room-link', { hasText: 'Small screens' })).toBeVisible();
  await expect(member.page.getByLabel('Room ID')).toBeVisible();
});
