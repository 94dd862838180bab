import { test, expect, sendRaw, type User } from './fixtures';

/** The search form over all rooms (sidebar) or over the room on screen. */
function searchForm(user: User, scope: 'All rooms' | 'This room') {
  return user.page.getByRole('search', { name: scope });
}

async function search(user: User, scope: 'All rooms' | 'This room', query: string) {
  const form = searchForm(user, scope);
  if (scope === 'This room' && !(await form.isVisible())) {
    await user.page.getByRole('button', { name: 'Search this room' }).click();
    await expect(form.getByLabel('Search messages')).toBeFocused();
  }
  await form.getByLabel('Search messages').fill(query);
  await form.getByRole('button', { name: 'Search' }).click();
  return user.page.getByRole('region', { name: 'Search results' });
}

test('search finds messages of your rooms only, by every word, whatever the accents, and opens the room at one', async ({
  newUser,
}) => {
  const alice = await newUser('sea');
  const bob = await newUser('seb');
  const trip = await alice.createRoom('Trip planning');
  await bob.askToJoin(trip);
  await alice.page.getByRole('region', { name: /Join requests/ }).getByRole('button', { name: 'Approve' }).click();
  await expect(bob.page.getByLabel('Message', { exact: true })).toBeVisible();
  await alice.send('We meet at the Café Central on Friday');
  await alice.send('Bring <b>tea</b> and cake');
  await alice.send('Friday is a holiday');
  await expect(bob.message('Friday is a holiday')).toBeVisible();
  // A room Bob is not in: nothing of it is ever found by him.
  await alice.createRoom('Secret');
  await alice.send('cafe secret plans');
  await expect(alice.message('cafe secret plans')).toBeVisible();

  // Every word, without accents or case; the match marked, the markup shown as text.
  const results = await search(bob, 'All rooms', 'CAFE friday');
  await expect(results.getByRole('heading', { name: 'Trip planning' })).toBeVisible();
  const hits = results.getByRole('button', { name: /Café Central/ });
  await expect(hits).toHaveCount(1);
  await expect(hits.locator('mark')).toHaveText(['Café', 'Friday']);
  await expect(results.getByText('secret plans')).toHaveCount(0);
  await expect(results.getByRole('heading', { name: 'Secret' })).toHaveCount(0);

  const tea = await search(bob, 'All rooms', 'tea');
  await expect(tea.getByRole('button', { name: /Bring <b>tea<\/b> and cake/ })).toBeVisible();
  await expect(tea.locator('b')).toHaveCount(0);

  // Nothing found, and a query with no word, say so.
  await search(bob, 'All rooms', 'zeppelin');
  await expect(results.getByText('No messages found.')).toBeVisible();
  await search(bob, 'All rooms', '"*"');
  await expect(results.getByRole('alert')).toHaveText('Type a word to search for.');

  // Keyboard: down from the box to the results, Enter opens the room at the message.
  await bob.page.goto('/');
  await search(bob, 'All rooms', 'friday');
  await expect(results.getByRole('button')).toHaveCount(3); // two hits and "Close search"
  await searchForm(bob, 'All rooms').getByLabel('Search messages').press('ArrowDown');
  await expect(results.getByRole('button', { name: /Friday is a holiday/ })).toBeFocused();
  await bob.page.keyboard.press('ArrowDown');
  const older = results.getByRole('button', { name: /Café Central/ });
  await expect(older).toBeFocused();
  await bob.page.keyboard.press('Enter');
  await expect(bob.page.getByRole('heading', { name: 'Trip planning', level: 1 })).toBeVisible();
  const opened = bob.page.locator('.messages .msg[aria-current="true"]');
  await expect(opened).toContainText('We meet at the Café Central on Friday');
  await expect(opened).toBeInViewport();
  // Escape closes the results.
  await searchForm(bob, 'All rooms').getByLabel('Search messages').press('Escape');
  await expect(results).toHaveCount(0);

  // Taken out of the room, Bob finds nothing of it any more.
  await alice.page.goto(`/room/${trip}`);
  const row = alice.page.locator('.members .member:not(.pending):not(.banned)', { hasText: bob.name });
  await row.getByRole('button', { name: 'Manage' }).click();
  await row.getByRole('button', { name: 'Remove', exact: true }).click();
  await expect(bob.page.locator('.notice')).toHaveText(/You were removed from Trip planning/);
  await search(bob, 'All rooms', 'friday');
  await expect(results.getByText('No messages found.')).toBeVisible();
});

test('a result deep in a long room opens there, and scrolling loads both ways', async ({ newUser, knock }) => {
  test.setTimeout(120_000);
  const alice = await newUser('dea');
  const bob = await newUser('deb');
  const roomId = await alice.createRoom('Long room');
  await bob.askToJoin(roomId);
  await alice.page.getByRole('region', { name: /Join requests/ }).getByRole('button', { name: 'Approve' }).click();
  await expect(bob.page.getByLabel('Message', { exact: true })).toBeVisible();
  const texts = Array.from({ length: 160 }, (_, i) =>
    i === 29 ? 'the needle is here, line 030' : `line ${String(i + 1).padStart(3, '0')}`,
  );
  await sendRaw(alice.page, knock.api.url.replace('http', 'ws') + '/ws', roomId, texts);
  await expect(bob.message('line 160')).toBeVisible();
  // Opened afresh, the room shows its newest page only.
  await bob.page.reload();
  await expect(bob.message('line 160')).toBeVisible();
  await expect(bob.message('the needle')).toHaveCount(0);

  // Only this room's box, scoped: the result opens the conversation at it.
  const results = await search(bob, 'This room', 'needle');
  await results.getByRole('button', { name: /the needle is here/ }).click();
  const opened = bob.page.locator('.messages .msg[aria-current="true"]');
  await expect(opened).toContainText('the needle is here, line 030');
  await expect(opened).toBeInViewport();
  await expect(bob.message('line 160')).toHaveCount(0);

  // Down to the newest, then up to the beginning, each message once.
  const scroller = bob.page.locator('.messages-scroll');
  for (let i = 0; i < 10 && (await bob.message('line 160').count()) === 0; i++) {
    await scroller.evaluate((el) => (el.scrollTop = el.scrollHeight));
    await bob.page.waitForTimeout(200);
  }
  await expect(bob.message('line 160')).toHaveCount(1);
  await scroller.evaluate((el) => (el.scrollTop = 0));
  await expect(bob.page.getByText('This is the beginning of the room.')).toBeVisible();
  await expect(bob.messages()).toHaveCount(160);

  // At the newest again, live messages arrive as before.
  await scroller.evaluate((el) => (el.scrollTop = el.scrollHeight));
  await alice.send('live after the search');
  await expect(bob.message('live after the search')).toBeVisible();
  await expect(bob.messages()).toHaveCount(161);
});
