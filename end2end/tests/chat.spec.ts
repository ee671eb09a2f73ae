// Chat in headless Chromium with two browser contexts (two people): live
// messages both ways, the unread badge in the list, typing, seen receipts,
// an image attachment, the rate-limit message, and the send-to-display
// latency.
import * as fs from "node:fs";
import * as zlib from "node:zlib";
import { Browser, Page, request } from "@playwright/test";
import {
  test,
  expect,
  hydrated,
  signUp,
  watchErrors,
  uniqueName,
  connectionStatus,
  PASSWORD,
} from "./fixtures";

const baseURL = () => test.info().project.use.baseURL as string;

/** A second person in their own browser context. */
async function otherPerson(browser: Browser, errors: string[]) {
  const context = await browser.newContext();
  const page = await context.newPage();
  watchErrors(page, errors);
  const name = await signUp(page, uniqueName("b"));
  return { context, page, name };
}

/** Starts a direct conversation from the list page; returns its path. */
async function startDirect(page: Page, withName: string): Promise<string> {
  await page.goto("/messages");
  await hydrated(page);
  await page.getByText("New conversation").click();
  await page.getByLabel("Username").fill(withName);
  await page.getByRole("button", { name: "Start conversation" }).click();
  await expect(page).toHaveURL(/\/messages\/\d+$/);
  await expect(page.getByRole("textbox", { name: "Message" })).toBeVisible();
  return new URL(page.url()).pathname;
}

/** Alice (on `page`) starts a direct conversation with a new Bob, who opens it. */
async function directWithBobOpen(page: Page, browser: Browser, errors: string[]) {
  const bob = await otherPerson(browser, errors);
  await signUp(page, uniqueName("a"));
  const path = await startDirect(page, bob.name);
  await bob.page.goto(path);
  await hydrated(bob.page);
  return { bob };
}

async function sendFromComposer(page: Page, text: string) {
  const composer = page.getByRole("textbox", { name: "Message" });
  await composer.fill(text);
  await composer.press("Enter");
}

test("messages flow both ways live, with the list badge, typing and seen receipts", async ({
  page,
  browser,
}) => {
  const errors: string[] = [];
  const bob = await otherPerson(browser, errors);
  await signUp(page, uniqueName("a"));
  await bob.page.goto("/messages");
  await hydrated(bob.page);
  await expect(bob.page.getByText("No conversations yet")).toBeVisible();

  const path = await startDirect(page, bob.name);
  // Bob's list learns of the new conversation, then counts unread messages.
  await expect(bob.page.getByTestId("conversation")).toHaveCount(1);
  await sendFromComposer(page, "Hello Bob");
  await sendFromComposer(page, "Line one");
  const badge = bob.page.getByTestId("conversation-unread");
  await expect(badge).toHaveText("2");
  await expect(bob.page.getByTestId("conversation-preview")).toHaveText("Line one");
  await expect(bob.page.getByTestId("presence")).toHaveText("Online");

  // Shift+Enter adds a line instead of sending.
  const composer = page.getByRole("textbox", { name: "Message" });
  await composer.fill("first");
  await composer.press("Shift+Enter");
  await composer.pressSequentially("second");
  await expect(composer).toHaveValue("first\nsecond");
  await page.getByRole("button", { name: "Send" }).click();
  await expect(composer).toHaveValue("");

  // Alice's messages say "Sent" until Bob opens the conversation.
  const mine = page.getByTestId("message").filter({ hasText: "first" });
  await expect(mine.getByTestId("message-status")).toHaveText("Sent");
  await bob.page.getByTestId("conversation").click();
  await expect(bob.page).toHaveURL(new RegExp(`${path}$`));
  await expect(bob.page.getByTestId("new-messages")).toBeVisible();
  await expect(bob.page.getByTestId("message-body")).toHaveText(["Hello Bob", "Line one", "first\nsecond"]);
  await expect(bob.page.getByTestId("day-separator").first()).toHaveText("Today");
  await expect(mine.getByTestId("message-status")).toHaveText("Seen");

  // Typing shows on the other side, and goes when the message arrives.
  await bob.page.getByRole("textbox", { name: "Message" }).pressSequentially("Hi Al");
  const indicator = page.getByTestId("typing-indicator");
  await expect(indicator).toHaveText(`${bob.name} is typing…`);
  await bob.page.getByRole("textbox", { name: "Message" }).press("Enter");
  await expect(page.getByTestId("message").filter({ hasText: "Hi Al" })).toHaveAttribute("data-mine", "false");
  await expect(indicator).toHaveText("");

  // While Bob looks at the conversation, no notification pops for him.
  await sendFromComposer(page, "Are you there?");
  await expect(bob.page.getByTestId("message-body").last()).toHaveText("Are you there?");
  await expect(bob.page.getByTestId("toast")).toHaveCount(0);
  await expect(page.getByTestId("message").filter({ hasText: "Are you there?" }).getByTestId("message-status")).toHaveText("Seen");

  await bob.context.close();
  expect(errors).toEqual([]);
});

test("send-to-display latency over 20 messages", async ({ page, browser }) => {
  const errors: string[] = [];
  const { bob } = await directWithBobOpen(page, browser, errors);
  await expect(bob.page.getByRole("textbox", { name: "Message" })).toBeVisible();

  await bob.page.evaluate(() => {
    const w = window as unknown as { __shownAt: Record<string, number> };
    w.__shownAt = {};
    new MutationObserver(() => {
      for (const body of document.querySelectorAll("[data-testid=message-body]")) {
        const text = body.textContent ?? "";
        if (text.startsWith("latency ") && !(text in w.__shownAt)) w.__shownAt[text] = Date.now();
      }
    }).observe(document.body, { childList: true, subtree: true, characterData: true });
  });
  // Sent = the Enter keydown in Alice's page (the same clock as Bob's page:
  // one browser), so the figure leaves out Playwright's own key dispatch
  // (about 13 ms here).
  await page.evaluate(() => {
    const w = window as unknown as { __sentAt: Record<string, number> };
    w.__sentAt = {};
    document.addEventListener(
      "keydown",
      (e) => {
        const box = e.target as HTMLTextAreaElement;
        if (e.key === "Enter" && !e.shiftKey) w.__sentAt[box.value] = Date.now();
      },
      true,
    );
  });
  const composer = page.getByRole("textbox", { name: "Message" });
  const latencies: number[] = [];
  for (let n = 1; n <= 20; n++) {
    const text = `latency ${n}`;
    await composer.fill(text);
    await composer.press("Enter");
    await expect(bob.page.getByTestId("message-body").filter({ hasText: new RegExp(`^${text}$`) })).toBeVisible();
    const shownAt = await bob.page.evaluate(
      (text) => (window as unknown as { __shownAt: Record<string, number> }).__shownAt[text],
      text,
    );
    const sentAt = await page.evaluate(
      (text) => (window as unknown as { __sentAt: Record<string, number> }).__sentAt[text],
      text,
    );
    latencies.push(shownAt - sentAt);
  }
  latencies.sort((a, b) => a - b);
  const median = (latencies[9] + latencies[10]) / 2;
  const summary = { median, min: latencies[0], max: latencies[19], latencies };
  console.log(`chat send -> display latency over 20: median ${median} ms, min ${summary.min} ms, max ${summary.max} ms`);
  fs.writeFileSync("/tmp/herald-chat-latency.json", JSON.stringify(summary));
  await bob.context.close();
  expect(errors).toEqual([]);
});

/** A valid 16×16 PNG, built here so the test depends on no image file. */
function png16(): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(16, 0);
  header.writeUInt32BE(16, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const rows = Buffer.alloc(16 * (1 + 16 * 3));
  for (let y = 0; y < 16; y++) {
    for (let x = 0; x < 16; x++) rows.set([79, 70, 229], y * 49 + 1 + x * 3);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", zlib.deflateSync(rows)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}
const PNG = png16();

test("an image attachment is shown to the other member", async ({ page, browser }) => {
  const errors: string[] = [];
  const { bob } = await directWithBobOpen(page, browser, errors);

  await page.getByLabel("Attach files").setInputFiles({ name: "chart.png", mimeType: "image/png", buffer: PNG });
  await expect(page.getByRole("list", { name: "Files to send" })).toContainText("chart.png");
  await expect(page.getByRole("list", { name: "Files to send" })).not.toContainText("uploading");
  await sendFromComposer(page, "The chart");
  const image = bob.page.getByTestId("message").filter({ hasText: "The chart" }).getByTestId("attachment-image");
  await expect(image).toBeVisible();
  await expect(image).toHaveAttribute("alt", "chart.png");
  await expect(image).toHaveAttribute("loading", "lazy");
  await expect.poll(() => image.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBe(16);

  await bob.context.close();
  expect(errors).toEqual([]);
});

test("the rate limit is explained in words, with when to send again", async ({ page, browser }) => {
  const errors: string[] = [];
  const bob = await otherPerson(browser, errors);
  const alice = await signUp(page, uniqueName("a"));
  const path = await startDirect(page, bob.name);
  const id = path.split("/").pop();

  // Alice's other client (a script) spends her whole minute's budget.
  const api = await request.newContext({ baseURL: baseURL() });
  expect((await api.post("/api/auth/login", { data: { username: alice, password: PASSWORD } })).status()).toBe(200);
  for (let n = 0; n < 100; n++) {
    const answer = await api.post(`/api/conversations/${id}/messages`, { data: { body: `bulk ${n}` } });
    expect(answer.status()).toBe(201);
  }
  await sendFromComposer(page, "one too many");
  const notice = page.getByRole("alert").filter({ hasText: "too fast" });
  await expect(notice).toContainText(/You can send again in \d+ s\./);
  const failed = page.getByTestId("message").filter({ hasText: "one too many" });
  await expect(failed.getByTestId("message-status")).toHaveText("Not sent");
  await expect(failed.getByRole("button", { name: "Retry" })).toBeVisible();
  await api.dispose();
  await bob.context.close();
  expect(errors).toEqual([]);
});

test("a message delivered while the conversation list loads is not lost", async ({ page }) => {
  // Alice (a script) and Bob already share a conversation.
  const bob = await signUp(page, uniqueName("b"));
  const alice = await request.newContext({ baseURL: baseURL() });
  const aliceName = uniqueName("a");
  expect((await alice.post("/api/auth/register", { data: { username: aliceName, password: PASSWORD } })).status()).toBe(201);
  const created = await alice.post("/api/conversations", { data: { kind: "direct", with: bob } });
  const id = (await created.json()).conversation.id;
  await alice.post(`/api/conversations/${id}/messages`, { data: { body: "first" } });

  // Bob's list answer is computed at once but reaches the page late; a
  // message is delivered on the stream in between.
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let held = false;
  await page.route("**/fn/chat/list", async (route) => {
    const response = await route.fetch();
    held = true;
    await released;
    await route.fulfill({ response });
  });
  // Opened inside the app (a direct load gets the list in the HTML).
  await page.goto("/");
  await hydrated(page);
  await expect(connectionStatus(page)).toHaveText("Live");
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Messages" }).click();
  await expect.poll(() => held).toBe(true);
  await alice.post(`/api/conversations/${id}/messages`, { data: { body: "sent while loading" } });
  // Give the stream time to deliver it before the stale list arrives.
  await page.waitForTimeout(500);
  release();

  await expect(page.getByTestId("conversation-preview")).toHaveText("sent while loading");
  await expect(page.getByTestId("conversation-unread")).toHaveText("2");
  await alice.dispose();
});
