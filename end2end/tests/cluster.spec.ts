import { test, expect, messageRow as row, openMessageMenu as openMenu } from './fixtures';

/**
 * Across nodes (issue 18, "done means"): Ann's browser uses node 1, Ben's node 2, the
 * nodes sharing PostgreSQL and Redis. Everything two people do together reaches the other
 * live: a knock by invite link and its approval (and the link's use count on the admin's
 * panel), messages both ways, typing, who is online, a reply naming the other, an edit, a
 * deletion, the unread and mention badges.
 */

test('two people on two nodes see each other live: knock by link, chat, typing, presence, reply, edit, delete, badges', async ({
  newUserOn,
}) => {
  test.setTimeout(120_000);
  const ann = await newUserOn(0, 'cna');
  const ben = await newUserOn(1, 'cnb');
  await ann.createRoom('Two nodes');

  // Ann makes a link; Ben knocks with it on his node.
  const panel = ann.page.locator('details.invites');
  await panel.getByText('Invite links', { exact: true }).click();
  await panel.getByLabel('Label').fill('For Ben');
  await panel.getByRole('button', { name: 'Create link' }).click();
  const link = panel.locator('.invite', { hasText: 'For Ben' });
  await expect(link).toContainText('0 uses');
  const url = await link.getByRole('button', { name: 'Copy link' }).getAttribute('data-copy');
  await ben.page.goto(new URL(url!).pathname);
  await expect(ben.page.getByText('Two nodes', { exact: true })).toBeVisible();
  await ben.page.getByRole('button', { name: 'Ask to join' }).click();
  await expect(ben.page.getByRole('heading', { name: 'Waiting for approval' })).toBeVisible();

  // Ann sees the knock and the link used, live; her approval lets Ben in at once.
  const request = ann.page.getByRole('region', { name: /Join requests/ }).locator('li', { hasText: ben.name });
  await expect(request).toContainText('Came with the invite link “For Ben”');
  await expect(link).toContainText('1 use');
  await request.getByRole('button', { name: 'Approve', exact: true }).click();
  const benBox = ben.page.getByLabel('Message', { exact: true });
  await expect(benBox).toBeVisible();

  // Both online, each in the other's member list.
  await expect(ann.page.locator('.members .member', { hasText: ben.name })).toContainText('online');
  await expect(ben.page.locator('.members .member', { hasText: ann.name })).toContainText('online');

  // Ben types: Ann sees it; his message ends it and reaches her.
  await benBox.pressSequentially('hello from node two');
  await expect(ann.page.locator('.typing')).toHaveText(`${ben.name} is typing…`);
  await benBox.press('Enter');
  await expect(ann.message('hello from node two')).toBeVisible();
  await expect(ann.page.locator('.typing')).toHaveText('');

  // Ann answers it, naming Ben: he sees the quote and the mention.
  await (await openMenu(ann, 'hello from node two')).getByRole('button', { name: 'Reply' }).click();
  await ann.send(`@${ben.name} welcome from node one`);
  const reply = row(ben, 'welcome from node one');
  await expect(reply.locator('.msg-quote')).toHaveText(`In reply to ${ben.name}: hello from node two`);
  await expect(reply.locator('.mention-me')).toHaveText(`@${ben.name}`);

  // Ben fixes his message: Ann sees the edit, in the message and in her reply's quote.
  await (await openMenu(ben, 'hello from node two')).getByRole('button', { name: 'Edit' }).click();
  const edit = ben.page.getByRole('textbox', { name: 'Edit message' });
  await edit.fill('hello from node 2');
  await edit.press('Enter');
  await expect(row(ann, 'hello from node 2')).toContainText('(edited)');
  await expect(row(ann, 'welcome from node one').locator('.msg-quote')).toHaveText(
    `In reply to ${ben.name}: hello from node 2`,
  );

  // Ann takes a message back: gone for Ben too.
  await ann.send('wrong room, sorry');
  await expect(ben.message('wrong room, sorry')).toBeVisible();
  const wrong = await openMenu(ann, 'wrong room, sorry');
  await wrong.getByRole('button', { name: 'Delete' }).click();
  await wrong.getByRole('button', { name: 'Delete for everyone' }).click();
  await expect(ben.message('wrong room, sorry')).toHaveCount(0);
  await expect(ben.page.locator('.messages .msg.deleted')).toHaveText(/Message deleted/);

  // Ben looks at his rooms; Ann writes twice, once naming him: his badges count them.
  await ben.page.getByRole('link', { name: 'Knock, home' }).click();
  await ann.send('are you still there?');
  await ann.send(`@${ben.name} ping`);
  const roomLink = ben.page.locator('.room-link', { hasText: 'Two nodes' });
  await expect(roomLink.getByLabel('2 unread')).toBeVisible();
  await expect(roomLink.getByLabel('1 mention')).toBeVisible();
  await roomLink.click();
  await expect(ben.message('are you still there?')).toBeVisible();
  await expect(ben.page.getByRole('separator').filter({ hasText: 'New messages' })).toBeVisible();
  await ben.page.getByRole('link', { name: 'Knock, home' }).click();
  await expect(roomLink).toBeVisible();
  await expect(roomLink.locator('.badge')).toHaveCount(0);

  // Ben closes his tab: Ann sees him go offline.
  await ben.page.close();
  await expect(ann.page.locator('.members .member', { hasText: ben.name })).toContainText('offline');
  const back = await ben.context.newPage();
  await back.goto('/');
  await expect(ann.page.locator('.members .member', { hasText: ben.name })).toContainText('online');
});
