import { test, expect, type Page } from './fixtures';

/** Sends chat messages over a second raw socket of the same user, within the rate limit. */
async function sendRaw(page: Page, wsUrl: string, roomId: string, texts: string[]) {
  await page.evaluate(
    async ({ wsUrl, roomId, texts }) => {
      const token = JSON.parse(localStorage.getItem('knock.session')!).token;
      const ws = new WebSocket(wsUrl);
      const acks: Promise<void>[] = [];
      let resolveAck: (() => void) | null = null;
      let acked = 0;
      ws.onmessage = (ev) => {
        const frame = JSON.parse(ev.data);
        if (frame.action === 'messageAck') {
          acked += 1;
          resolveAck?.();
        }
        if (frame.action === 'error') console.error(JSON.stringify(frame));
      };
      await new Promise((r) => (ws.onopen = r));
      ws.send(JSON.stringify({ action: 'authenticate', token }));
      let i = 0;
      for (const message of texts) {
        ws.send(JSON.stringify({ action: 'sendMessage', roomId, message, clientMsgId: crypto.randomUUID() }));
        i += 1;
        // Stay under the server's rate limit (5 per second after a burst of 20).
        if (i % 10 === 0) {
          while (acked < i) await new Promise<void>((r) => (resolveAck = r));
          await new Promise((r) => setTimeout(r, 2_000));
        }
      }
      while (acked < texts.length) await new Promise<void>((r) => (resolveAck = r));
      ws.close();
      void acks;
    },
    { wsUrl, roomId, texts },
  );
}

test('history: newest page first, older pages on scrolling up, a marker for new messages below', async ({
  newUser,
  knock,
}) => {
  test.setTimeout(120_000);
  const admin = await newUser('hil');
  const reader = await newUser('rea');
  const roomId = await admin.createRoom('Long history');
  await reader.askToJoin(roomId);
  await admin.page.getByRole('region', { name: /Join requests/ }).getByRole('button', { name: 'Approve' }).click();
  await expect(reader.page.getByLabel('Message', { exact: true })).toBeVisible();

  const texts = Array.from({ length: 70 }, (_, i) => `history message ${String(i + 1).padStart(2, '0')}`);
  const wsUrl = knock.api.url.replace('http', 'ws') + '/ws';
  await sendRaw(admin.page, wsUrl, roomId, texts);
  await expect(admin.message('history message 70')).toBeVisible();

  // A fresh load shows the newest page, scrolled to the bottom.
  await reader.page.reload();
  await expect(reader.message('history message 70')).toBeInViewport();
  await expect(reader.message('history message 21')).toBeAttached();
  await expect(reader.message('history message 20')).toHaveCount(0);

  // Scrolling up loads the page before it, keeping what was on screen.
  await reader.page.locator('.messages-scroll').evaluate((el) => (el.scrollTop = 0));
  await expect(reader.message('history message 01')).toBeAttached();
  await expect(reader.page.getByText('This is the beginning of the room.')).toBeAttached();
  await expect(reader.messages()).toHaveCount(70);

  // Scrolled up, a new message does not yank the view: a marker appears instead.
  await reader.page.locator('.messages-scroll').evaluate((el) => (el.scrollTop = 0));
  await admin.send('news from the bottom');
  const marker = reader.page.getByRole('button', { name: 'New messages ↓' });
  await expect(marker).toBeVisible();
  await expect(reader.message('news from the bottom')).not.toBeInViewport();
  await marker.click();
  await expect(reader.message('news from the bottom')).toBeInViewport();
  await expect(marker).toBeHidden();

  // At the bottom, the view follows new messages.
  await admin.send('followed automatically');
  await expect(reader.message('followed automatically')).toBeInViewport();
});
