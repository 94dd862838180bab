import { test, expect, expectAccessible, type User } from './fixtures';

const PHONE = { width: 360, height: 740 };

/** The element's box, which must lie inside the page's viewport. */
async function boxInView(user: User, selector: string) {
  const box = await user.page.locator(selector).first().boundingBox();
  expect(box, `${selector} is laid out`).not.toBeNull();
  const viewport = user.page.viewportSize()!;
  expect(box!.y, `${selector} starts inside the viewport`).toBeGreaterThanOrEqual(0);
  expect(box!.y + box!.height, `${selector} ends inside the viewport`).toBeLessThanOrEqual(viewport.height + 0.5);
  return box!;
}

test('ten join requests on a phone: one banner, newest first, Dismiss all, the chat stays usable', async ({
  newUser,
}) => {
  test.setTimeout(180_000);
  const admin = await newUser('pam');
  await admin.page.setViewportSize(PHONE);

  // Pam waits for another room too, so that an answer of another kind arrives among the
  // requests.
  const owner = await newUser('own');
  const elsewhere = await owner.createRoom('Elsewhere');
  await admin.askToJoin(elsewhere);

  const roomId = await admin.createRoom('Phone room');
  for (let i = 1; i <= 12; i++) await admin.send(`message ${i}`);
  await expect(admin.message('message 12')).toBeVisible();

  await owner.page.getByRole('region', { name: /Join requests/ }).getByRole('button', { name: 'Approve' }).click();
  const youreIn = admin.page.locator('.notice', { hasText: "You're in!" });
  await expect(youreIn).toContainText('Elsewhere');

  // Ten people knock, one after the other.
  const knockers: User[] = [];
  for (let batch = 0; batch < 2; batch++) {
    knockers.push(...(await Promise.all([1, 2, 3, 4, 5].map(() => newUser('kno')))));
  }
  const banner = admin.page.locator('.notices');
  for (const [i, knocker] of knockers.entries()) {
    await knocker.askToJoin(roomId);
    if (i === 0) {
      await expect(banner.locator('.notice', { hasText: `${knocker.name} asks to join` })).toBeVisible();
    } else {
      await expect(banner.getByRole('button', { name: `${i + 1} people ask to join` })).toBeVisible();
    }
  }
  // They wait; their pages are not needed any more.
  for (const knocker of knockers) await knocker.context.close();

  // One banner for the ten requests, next to the other notice; not ten pop-ups.
  const summary = banner.getByRole('button', { name: '10 people ask to join' });
  await expect(summary).toHaveAttribute('aria-expanded', 'false');
  await expect(banner.locator('.notice')).toHaveCount(2);
  await expect(youreIn).toBeVisible();
  const requests = admin.page.getByRole('region', { name: /Join requests/ });
  await expect(requests.locator('.request')).toHaveCount(10);

  // The chat keeps its room: header, the last messages and the composer are on screen,
  // and the message list keeps a usable height.
  const notices = await boxInView(admin, '.notices');
  expect(notices.height, 'notifications take little of the screen').toBeLessThan(PHONE.height * 0.25);
  await boxInView(admin, '.room-head');
  const list = await boxInView(admin, '.messages-scroll');
  expect(list.height, 'the message list keeps a usable height').toBeGreaterThanOrEqual(180);
  await expect(admin.message('message 12')).toBeInViewport({ ratio: 1 });
  await boxInView(admin, '.composer');

  // Focusing the message box leaves the room header where it was.
  const box = admin.page.getByLabel('Message', { exact: true });
  await box.focus();
  await boxInView(admin, '.room-head');
  await expect(admin.page.getByRole('heading', { level: 1, name: 'Phone room' })).toBeInViewport({ ratio: 1 });
  await expect(box).toBeInViewport({ ratio: 1 });
  await admin.send('typed on a phone');
  await expect(admin.message('typed on a phone')).toBeInViewport({ ratio: 1 });
  await boxInView(admin, '.room-head');

  // The banner opens the requests, newest first; each Approve and Reject keeps its name
  // and says whom it answers.
  await summary.click();
  await expect(summary).toHaveAttribute('aria-expanded', 'true');
  const items = admin.page.locator('#notice-request-list .notice-item');
  await expect(items).toHaveCount(10);
  await expect(items.locator('strong')).toHaveText(knockers.map((k) => k.name).reverse());
  const newest = knockers[knockers.length - 1];
  const approveNewest = items.first().getByRole('button', { name: 'Approve' });
  await expect(approveNewest).toHaveAccessibleName('Approve');
  await expect(approveNewest).toHaveAccessibleDescription(`${newest.name} asks to join Phone room`);
  await expect(items.first().getByRole('button', { name: 'Reject' })).toHaveAccessibleDescription(
    `${newest.name} asks to join Phone room`,
  );
  const inPanel = requests.locator('.request', { hasText: knockers[0].name });
  await expect(inPanel.getByRole('button', { name: 'Approve' })).toHaveAccessibleDescription(knockers[0].name);
  await expect(inPanel.getByRole('button', { name: 'Reject' })).toHaveAccessibleDescription(knockers[0].name);
  await boxInView(admin, '#notice-request-list');
  await expectAccessible(admin.page, 'with the requests open on a phone');

  // Answering from the banner.
  await approveNewest.click();
  await expect(banner.getByRole('button', { name: '9 people ask to join' })).toBeVisible();
  await expect(items).toHaveCount(9);
  await expect(items.first().locator('strong')).toHaveText(knockers[8].name);
  await expect(admin.page.locator('.members')).toContainText(newest.name);

  // Dismiss all: the requests banner goes, the other notice stays, the requests wait in
  // the room's panel.
  await banner.getByRole('button', { name: 'Dismiss all' }).click();
  await expect(banner.getByRole('button', { name: /people ask to join/ })).toHaveCount(0);
  await expect(banner.locator('.notice')).toHaveCount(1);
  await expect(youreIn).toBeVisible();
  await expect(requests.locator('.request')).toHaveCount(9);
  await boxInView(admin, '.room-head');
  await boxInView(admin, '.composer');
});

test('light and dark, 360 px: statuses, tags and Approve are readable and say whom', async ({ newUser }) => {
  const admin = await newUser('ali');
  const waiting = await newUser('wes');
  const rejected = await newUser('rae');
  for (const user of [admin, waiting, rejected]) await user.page.setViewportSize(PHONE);
  const roomId = await admin.createRoom('Contrast');
  await waiting.askToJoin(roomId);
  await rejected.askToJoin(roomId);

  const requests = admin.page.getByRole('region', { name: /Join requests/ });
  const reject = requests.locator('.request', { hasText: rejected.name }).getByRole('button', { name: 'Reject' });
  await expect(reject).toHaveAccessibleDescription(rejected.name);
  await reject.click();
  await expect(rejected.page.getByRole('heading', { name: 'Your request was rejected' })).toBeVisible();

  // The admin's member list shows the PENDING tag; the requesters' room lists say
  // "Waiting for approval" and "Rejected".
  await admin.page.locator('.members summary').click();
  await expect(admin.page.locator('.members .tag-pending')).toBeVisible();
  for (const user of [waiting, rejected]) await user.page.getByRole('link', { name: 'Back to rooms' }).click();
  await expect(waiting.page.locator('.room-status')).toHaveText('Waiting for approval');
  await expect(rejected.page.locator('.room-status')).toHaveText('Rejected');

  for (const colorScheme of ['light', 'dark'] as const) {
    for (const user of [admin, waiting, rejected]) {
      await user.page.emulateMedia({ colorScheme });
      await expectAccessible(user.page, `(${colorScheme})`);
    }
  }
  await expect(requests.getByRole('button', { name: 'Approve' })).toHaveAccessibleDescription(waiting.name);
});
