// The notification client in headless Chromium against the real server:
// live delivery to badge and toasts, the center's tabs and actions, updates
// across tabs and browser contexts, offline periods, a server restart, and
// one stream shared by seven tabs.
import { spawn, ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { Page } from "@playwright/test";
import {
  test,
  expect,
  hydrated,
  signUp,
  signIn,
  adminApi,
  publish,
  connectionStatus,
  watchErrors,
  uniqueName,
  PASSWORD,
  ADMIN,
} from "./fixtures";

const baseURL = () => test.info().project.use.baseURL as string;

/** Resolves with the page's clock when a toast titled `title` appears. */
async function watchForToast(page: Page, title: string) {
  await page.evaluate((title) => {
    const w = window as unknown as { __toastAt?: Record<string, number> };
    w.__toastAt = w.__toastAt ?? {};
    const seen = () =>
      [...document.querySelectorAll("[data-testid=toast-title]")].some((e) =>
        e.textContent?.includes(title),
      );
    const observer = new MutationObserver(() => {
      if (seen()) {
        w.__toastAt![title] = Date.now();
        observer.disconnect();
      }
    });
    observer.observe(document.body, { childList: true, subtree: true, characterData: true });
  }, title);
}

test("a published notification reaches the badge and a toast at once", async ({ page }) => {
  const user = await signUp(page);
  await expect(connectionStatus(page)).toHaveText("Live");
  await expect(page.getByTestId("unread-badge")).toBeHidden();
  const api = await adminApi(baseURL());

  const latencies: number[] = [];
  for (let n = 1; n <= 20; n++) {
    const title = `Build ${n} finished`;
    await watchForToast(page, title);
    const sentAt = Date.now();
    await publish(api, user, title, { url: "/notifications" });
    await expect(page.getByTestId("toast").filter({ hasText: title })).toBeVisible();
    await expect(page.getByTestId("unread-badge")).toHaveText(String(n));
    const shownAt = await page.evaluate((t) => (window as any).__toastAt[t] as number, title);
    latencies.push(shownAt - sentAt);
  }
  latencies.sort((a, b) => a - b);
  const median = (latencies[9] + latencies[10]) / 2;
  console.log(
    `publish -> toast latency over 20: median ${median} ms, min ${latencies[0]} ms, max ${latencies[19]} ms`,
  );
  fs.writeFileSync(
    path.join(os.tmpdir(), "herald-toast-latency.json"),
    JSON.stringify({ median, latencies }),
  );

  // At most three toasts; each has its action because the notification has a url.
  await expect(page.getByTestId("toast")).toHaveCount(3);
  const newest = page.getByTestId("toast").filter({ hasText: "Build 20 finished" });
  await expect(newest).toHaveAttribute("role", "status");
  await expect(newest.getByRole("button", { name: "Open" })).toBeVisible();
  await newest.getByRole("button", { name: "Dismiss" }).click();
  await expect(page.getByTestId("toast")).toHaveCount(2);

  // Urgent: an alert that stays.
  await publish(api, user, "Disk almost full", { priority: "urgent", category: "system" });
  const urgent = page.getByTestId("toast").filter({ hasText: "Disk almost full" });
  await expect(urgent).toHaveAttribute("role", "alert");
  await expect(page.getByTestId("unread-badge")).toHaveText("21");
});

test("the center filters by tab, marks read, deletes, pages and is keyboard usable", async ({ page }) => {
  const user = await signUp(page);
  const api = await adminApi(baseURL());
  await publish(api, user, "Invoice paid", { category: "payment", priority: "low" });
  await publish(api, user, "Nightly build failed", { category: "job", priority: "high", url: "/settings" });
  await publish(api, user, "Bob followed you", { category: "social" });

  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Notifications" }).click();
  await expect(page).toHaveURL(/\/notifications$/);
  const items = page.getByTestId("notification-item");
  await expect(items).toHaveCount(3);
  // Newest first, with priority in words, the actor and a relative time.
  await expect(items.first()).toContainText("Bob followed you");
  await expect(items.nth(1).getByTestId("priority-badge")).toHaveText("Priority: High");
  await expect(items.nth(2).getByTestId("priority-badge")).toHaveText("Priority: Low");
  await expect(items.first().getByTestId("notification-actor")).toHaveText("admin");
  await expect(items.first().getByTestId("notification-time")).toHaveText("just now");

  await page.getByRole("tab", { name: "Payments" }).click();
  await expect(page.getByRole("tab", { name: "Payments" })).toHaveAttribute("aria-selected", "true");
  await expect(items).toHaveCount(1);
  await expect(items.first()).toContainText("Invoice paid");
  await page.getByRole("tab", { name: "Comments" }).click();
  await expect(page.getByTestId("notifications-empty")).toHaveText("No comments notifications.");

  // Arrow keys move between tabs.
  await page.getByRole("tab", { name: "Comments" }).focus();
  await page.keyboard.press("ArrowLeft");
  await expect(page.getByRole("tab", { name: "Messages" })).toBeFocused();
  await expect(page.getByRole("tab", { name: "Messages" })).toHaveAttribute("aria-selected", "true");
  await page.keyboard.press("Home");
  await expect(page.getByRole("tab", { name: "All" })).toBeFocused();
  await expect(items).toHaveCount(3);

  // Clicking an item marks it read and follows its link.
  await items.filter({ hasText: "Nightly build failed" }).getByRole("link").click();
  await expect(page).toHaveURL(/\/settings$/);
  await expect(page.getByTestId("unread-badge")).toHaveText("2");
  await page.goBack();
  await expect(items.filter({ hasText: "Nightly build failed" })).toHaveAttribute("data-read", "true");
  await page.getByRole("tab", { name: "Unread" }).click();
  await expect(items).toHaveCount(2);

  // Delete by keyboard.
  await page.getByRole("tab", { name: "All" }).click();
  const remove = page.getByRole("button", { name: "Delete notification: Invoice paid" });
  await remove.focus();
  await page.keyboard.press("Enter");
  await expect(items).toHaveCount(2);
  await expect(page.getByTestId("unread-badge")).toHaveText("1");

  // Paging: 25 more, the first page holds 20.
  for (let n = 1; n <= 25; n++) await publish(api, user, `Batch ${n}`);
  await page.reload();
  await hydrated(page);
  await expect(items).toHaveCount(20);
  await page.getByRole("button", { name: "Load more" }).click();
  await expect(items).toHaveCount(27);
  await expect(page.getByRole("button", { name: "Load more" })).toBeHidden();
});

test("reading in one tab or device updates the others live", async ({ page, browser }) => {
  const user = await signUp(page);
  const api = await adminApi(baseURL());
  for (const title of ["First", "Second", "Third"]) await publish(api, user, title);

  // A second browser (another device) signed in as the same user.
  const other = await browser.newContext();
  const otherPage = await other.newPage();
  const otherErrors: string[] = [];
  watchErrors(otherPage, otherErrors);
  await signIn(otherPage, user);
  await otherPage.goto("/notifications");
  await hydrated(otherPage);
  await expect(otherPage.getByTestId("unread-badge")).toHaveText("3");

  await page.goto("/notifications");
  await hydrated(page);
  const mine = page.getByTestId("notification-item");
  const theirs = otherPage.getByTestId("notification-item");
  await expect(theirs).toHaveCount(3);

  // Read in the bell's panel on one device.
  await page.getByRole("button", { name: "Notifications" }).click();
  const panel = page.getByRole("dialog", { name: "Notification center" });
  await expect(panel).toBeVisible();
  await panel.getByRole("button", { name: "Second", exact: true }).click();
  await expect(otherPage.getByTestId("unread-badge")).toHaveText("2");
  await expect(theirs.filter({ hasText: "Second" })).toHaveAttribute("data-read", "true");
  await page.keyboard.press("Escape");
  await expect(panel).toBeHidden();
  await expect(page.getByRole("button", { name: "Notifications" })).toBeFocused();

  // Delete on the other device.
  await otherPage.getByRole("button", { name: "Delete notification: First" }).click();
  await expect(mine).toHaveCount(2);
  await expect(page.getByTestId("unread-badge")).toHaveText("1");

  // Mark all as read.
  await page.getByRole("button", { name: "Mark all as read" }).click();
  await expect(page.getByTestId("unread-badge")).toBeHidden();
  await expect(otherPage.getByTestId("unread-badge")).toBeHidden();
  await expect(theirs.filter({ hasText: "Third" })).toHaveAttribute("data-read", "true");
  await expect(mine.filter({ hasText: "Third" })).toHaveAttribute("data-read", "true");

  await other.close();
  expect(otherErrors).toEqual([]);
});

test("offline for five seconds: the missed notifications arrive exactly once", async ({
  page,
  context,
  consoleErrors,
}) => {
  const user = await signUp(page);
  await page.goto("/notifications");
  await hydrated(page);
  await expect(connectionStatus(page)).toHaveText("Live");
  const api = await adminApi(baseURL());

  await context.setOffline(true);
  await expect(connectionStatus(page)).toHaveText("Offline");
  for (const title of ["Missed one", "Missed two", "Missed three"]) await publish(api, user, title);
  await page.waitForTimeout(5_000);
  await context.setOffline(false);
  await expect(connectionStatus(page)).toHaveText("Live");

  const items = page.getByTestId("notification-item");
  await expect(items).toHaveCount(3);
  for (const title of ["Missed one", "Missed two", "Missed three"]) {
    await expect(items.filter({ hasText: title })).toHaveCount(1);
  }
  await expect(page.getByTestId("unread-badge")).toHaveText("3");
  // Backlog is not toasted: it happened while the user was away.
  await expect(page.getByTestId("toast")).toHaveCount(0);
  // And nothing arrives twice later.
  await page.waitForTimeout(500);
  await expect(items).toHaveCount(3);
  // Requests failing while offline are logged by Chromium; expected here.
  const offline = (e: string) => /ERR_INTERNET_DISCONNECTED|net::ERR_|api\/events/.test(e);
  consoleErrors.splice(0, consoleErrors.length, ...consoleErrors.filter((e) => !offline(e)));
});

test("a title containing HTML is shown as text", async ({ page }) => {
  const user = await signUp(page);
  const api = await adminApi(baseURL());
  const title = `<img src=x onerror="document.body.dataset.pwned=1"><b>bold</b>`;
  await publish(api, user, title);
  const toast = page.getByTestId("toast");
  await expect(toast.getByTestId("toast-title")).toHaveText(title);
  await expect(toast.locator("img, b")).toHaveCount(0);
  await page.goto("/notifications");
  await hydrated(page);
  await expect(page.getByTestId("notification-item").first()).toContainText(title);
  await expect(page.getByTestId("notification-list").locator("img, b")).toHaveCount(0);
  expect(await page.evaluate(() => document.body.dataset.pwned)).toBeUndefined();
});

test("seven tabs of one user share one stream and all stay live", async ({ page, context }) => {
  const user = await signUp(page);
  const errors: string[] = [];
  const tabs = [page];
  for (let n = 1; n < 7; n++) {
    const tab = await context.newPage();
    watchErrors(tab, errors);
    await tab.goto("/");
    tabs.push(tab);
  }
  for (const tab of tabs) {
    await hydrated(tab);
    await expect(connectionStatus(tab)).toHaveText("Live");
  }
  const leaders = async () => {
    let count = 0;
    for (const tab of tabs) {
      if ((await connectionStatus(tab).getAttribute("data-leader")) === "true") count++;
    }
    return count;
  };
  await expect.poll(leaders).toBe(1);

  const api = await adminApi(baseURL());
  await publish(api, user, "To every tab");
  for (const tab of tabs) await expect(tab.getByTestId("unread-badge")).toHaveText("1");

  // The leader closes; another tab takes over the stream and nothing is lost.
  let leaderIndex = 0;
  for (const [index, tab] of tabs.entries()) {
    if ((await connectionStatus(tab).getAttribute("data-leader")) === "true") leaderIndex = index;
  }
  const [leader] = tabs.splice(leaderIndex, 1);
  await leader.close();
  await expect.poll(leaders).toBe(1);
  await publish(api, user, "After the handover");
  for (const tab of tabs) {
    await expect(tab.getByTestId("unread-badge")).toHaveText("2");
    await expect(connectionStatus(tab)).toHaveText("Live");
  }
  expect(errors).toEqual([]);
});

test("settings mute categories; the admin form sends; a test notification arrives", async ({
  page,
  browser,
  consoleErrors,
}) => {
  const user = await signUp(page);
  await page.goto("/settings");
  await hydrated(page);
  await page.getByLabel("Social").check();
  await expect(page.getByTestId("preferences-state")).toHaveText("Saved");

  // The admin sends from the form in another browser.
  const adminContext = await browser.newContext();
  const adminPage = await adminContext.newPage();
  const adminErrors: string[] = [];
  watchErrors(adminPage, adminErrors);
  await adminPage.goto("/login");
  await hydrated(adminPage);
  await adminPage.getByLabel("Username").fill(ADMIN.username);
  await adminPage.getByLabel("Password").fill(ADMIN.password);
  await adminPage.getByRole("button", { name: "Sign in" }).click();
  await adminPage.getByRole("link", { name: "Admin" }).click();
  await expect(adminPage.getByRole("heading", { level: 1 })).toHaveText("Status");
  await adminPage.getByRole("link", { name: "Send notification" }).click();
  await expect(adminPage.getByRole("heading", { level: 1 })).toHaveText("Send a notification");
  await adminPage.getByLabel("Usernames").fill(user);
  await adminPage.getByLabel("Category").selectOption("social");
  await adminPage.getByLabel("Title").fill("Muted news");
  await adminPage.getByRole("button", { name: "Send notification" }).click();
  await expect(adminPage.getByTestId("send-result")).toHaveText("Sent to 1 user.");
  await adminPage.getByLabel("Category").selectOption("comment");
  await adminPage.getByLabel("Title").fill("Loud news");
  await adminPage.getByRole("button", { name: "Send notification" }).click();
  await expect(adminPage.getByTestId("send-result")).toHaveText("Sent to 1 user.");
  // Unknown users are named.
  await adminPage.getByLabel("Usernames").fill("nobody_at_all");
  await adminPage.getByLabel("Title").fill("Lost");
  await adminPage.getByRole("button", { name: "Send notification" }).click();
  await expect(adminPage.getByText("Unknown users: nobody_at_all.")).toBeVisible();
  // The admin tries it on themselves from the same page.
  await adminPage.getByRole("button", { name: "Send me a test notification" }).click();
  await expect(adminPage.getByTestId("toast").filter({ hasText: "Test notification" })).toBeVisible();

  // The muted one counts but does not toast.
  await expect(page.getByTestId("toast").filter({ hasText: "Loud news" })).toBeVisible();
  await expect(page.getByTestId("unread-badge")).toHaveText("2");
  await expect(page.getByTestId("toast").filter({ hasText: "Muted news" })).toHaveCount(0);

  await page.getByRole("button", { name: "Send me a test notification" }).click();
  await expect(page.getByTestId("toast").filter({ hasText: "Test notification" })).toBeVisible();

  // A user who is not an admin gets the 404 page for the admin form.
  await page.goto("/admin/notify");
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Page not found");
  // Chromium logs the 404 answer; that is the point here.
  const expected = (e: string) => e.includes("404") && e.includes("/admin/notify");
  consoleErrors.splice(0, consoleErrors.length, ...consoleErrors.filter((e) => !expected(e)));
  await adminContext.close();
  expect(adminErrors).toEqual([]);
});

/** A free TCP port on the loopback interface. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

/** Starts a Herald of our own (this test kills it) and waits until it answers. */
async function startServer(port: number, dataDir: string): Promise<ChildProcess> {
  const binary = process.env.HERALD_BIN ?? path.resolve(__dirname, "../../target/release/herald");
  const child = spawn(binary, [], {
    cwd: path.resolve(__dirname, "../.."),
    stdio: "ignore",
    env: {
      ...process.env,
      HERALD_ADDR: `127.0.0.1:${port}`,
      HERALD_PUBLIC_URL: `http://127.0.0.1:${port}`,
      HERALD_DATA_DIR: dataDir,
      HERALD_ADMIN_USERNAME: ADMIN.username,
      HERALD_ADMIN_PASSWORD: ADMIN.password,
      HERALD_PUBLISH_RATE_PER_MINUTE: "100000",
      HERALD_SESSION_PUBLISH_RATE_PER_MINUTE: "100000",
      HERALD_REGISTRATIONS_PER_IP_PER_HOUR: "100000",
      HERALD_LOG: "warn",
    },
  });
  for (let attempt = 0; attempt < 300; attempt++) {
    try {
      const answer = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (answer.ok) return child;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill("SIGKILL");
  throw new Error("the server did not start");
}

test("server killed and restarted: Reconnecting, then Live, nothing lost", async ({ browser }) => {
  const port = await freePort();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-e2e-restart-"));
  const origin = `http://127.0.0.1:${port}`;
  let server = await startServer(port, dataDir);
  const context = await browser.newContext({ baseURL: origin });
  const page = await context.newPage();
  const errors: string[] = [];
  watchErrors(page, errors);
  try {
    const user = uniqueName("restart");
    await page.goto("/register");
    await hydrated(page);
    await page.getByLabel("Username").fill(user);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Create account" }).click();
    await expect(page.getByTestId("user-menu")).toBeVisible();
    await page.goto("/notifications");
    await hydrated(page);
    await expect(connectionStatus(page)).toHaveText("Live");

    let api = await adminApi(origin);
    await publish(api, user, "Before the crash");
    await expect(page.getByTestId("notification-item")).toHaveCount(1);

    server.kill("SIGKILL");
    await expect(connectionStatus(page)).toHaveText("Reconnecting");
    server = await startServer(port, dataDir);
    // Published before the page is back: it must come from the replay.
    api = await adminApi(origin);
    await publish(api, user, "While reconnecting");
    await expect(connectionStatus(page)).toHaveText("Live", { timeout: 20_000 });
    await publish(api, user, "After the restart");

    const items = page.getByTestId("notification-item");
    await expect(items).toHaveCount(3);
    for (const title of ["Before the crash", "While reconnecting", "After the restart"]) {
      await expect(items.filter({ hasText: title })).toHaveCount(1);
    }
    await expect(page.getByTestId("unread-badge")).toHaveText("3");
  } finally {
    await context.close();
    server.kill("SIGKILL");
  }
  // A dropped stream logs a network error in Chromium's console, and so
  // does a module (the toasts') whose download the crash cut off; those
  // are expected here and only here.
  const cutOff = (e: string) =>
    /api\/events|ERR_CONNECTION_REFUSED|net::ERR/.test(e) || /Failed to fetch[\s\S]*__wasm_split/.test(e);
  expect(errors.filter((e) => !cutOff(e))).toEqual([]);
});

test("when the stream keeps failing, long-polling carries the events", async ({ page, consoleErrors }) => {
  // Every stream request fails; /api/events/poll still works.
  await page.route(/\/api\/events\?/, (route) => route.abort());
  const user = await signUp(page);
  await expect(connectionStatus(page)).toHaveText("Reconnecting");
  await expect(connectionStatus(page)).toHaveText("Live", { timeout: 15_000 });
  const api = await adminApi(baseURL());
  await publish(api, user, "Delivered by polling");
  await expect(page.getByTestId("toast").filter({ hasText: "Delivered by polling" })).toBeVisible();
  await expect(page.getByTestId("unread-badge")).toHaveText("1");
  // Chromium logs the refused streams; they are the point here.
  const refused = (e: string) => /api\/events|net::ERR_FAILED/.test(e);
  consoleErrors.splice(0, consoleErrors.length, ...consoleErrors.filter((e) => !refused(e)));
});

test("browser notifications: only live, unmuted, hidden-page ones; withdrawn when read; a click opens the link", async ({
  page,
  context,
  consoleErrors,
}) => {
  // A stand-in for the system's notifications (a headless browser shows
  // none) and a switch for whether the page counts as hidden.
  await page.addInitScript(() => {
    const w = window as any;
    w.__shown = [];
    w.__hidden = false;
    class FakeNotification {
      static permission = "default";
      static async requestPermission() {
        FakeNotification.permission = "granted";
        return "granted";
      }
      onclick: null | (() => void) = null;
      closed = false;
      constructor(public title: string, options: { tag?: string } = {}) {
        w.__shown.push(this);
      }
      close() {
        this.closed = true;
      }
    }
    w.Notification = FakeNotification;
    Object.defineProperty(document, "hidden", { get: () => w.__hidden });
  });
  const user = await signUp(page);
  await page.goto("/settings");
  await hydrated(page);
  // Permission is asked from this click.
  await page.getByLabel("Browser notifications when Herald is in the background").check();
  await expect(page.getByTestId("preferences-state")).toHaveText("Saved");
  await page.getByLabel("Payments").check();
  await expect(page.getByTestId("preferences-state")).toHaveText("Saved");
  await expect(connectionStatus(page)).toHaveText("Live");
  const shownTitles = () => page.evaluate(() => (window as any).__shown.map((n: any) => n.title));
  const api = await adminApi(baseURL());

  // Visible page: a toast, no browser notification.
  await publish(api, user, "Seen in the page");
  await expect(page.getByTestId("toast").filter({ hasText: "Seen in the page" })).toBeVisible();
  expect(await shownTitles()).toEqual([]);

  // Hidden page: a browser notification, but not for a muted category.
  await page.evaluate(() => ((window as any).__hidden = true));
  await publish(api, user, "Refund issued", { category: "payment" });
  await publish(api, user, "Deploy finished", { url: "/notifications" });
  await expect.poll(shownTitles).toEqual(["Deploy finished"]);

  // Backlog replayed after an offline spell does not pop.
  await context.setOffline(true);
  await expect(connectionStatus(page)).toHaveText("Offline");
  await publish(api, user, "Happened while offline");
  await context.setOffline(false);
  await expect(connectionStatus(page)).toHaveText("Live");
  await expect(page.getByTestId("unread-badge")).toHaveText("4");
  expect(await shownTitles()).toEqual(["Deploy finished"]);

  // Read elsewhere: withdrawn.
  await publish(api, user, "Read on the phone");
  await expect.poll(shownTitles).toEqual(["Deploy finished", "Read on the phone"]);
  const list = await (await page.request.get("/api/notifications?limit=1")).json();
  await page.request.post(`/api/notifications/${list.notifications[0].id}/read`);
  await expect
    .poll(() => page.evaluate(() => (window as any).__shown[1].closed))
    .toBe(true);

  // A click focuses the app, marks it read and opens its link.
  await page.evaluate(() => (window as any).__shown[0].onclick());
  await expect(page).toHaveURL(/\/notifications$/);
  await expect(page.getByTestId("unread-badge")).toHaveText("3");
  const offline = (e: string) => /ERR_INTERNET_DISCONNECTED|net::ERR_|api\/events/.test(e);
  consoleErrors.splice(0, consoleErrors.length, ...consoleErrors.filter((e) => !offline(e)));
});

test("signing out in one tab signs out the others", async ({ page, context }) => {
  await signUp(page);
  const other = await context.newPage();
  const otherErrors: string[] = [];
  watchErrors(other, otherErrors);
  await other.goto("/notifications");
  await hydrated(other);
  await expect(connectionStatus(other)).toHaveText("Live");

  await page.getByTestId("user-menu").locator("summary").click();
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login$/);
  // The other tab finds out from its stream and follows.
  await expect(other).toHaveURL(/\/login/, { timeout: 20_000 });
  await expect(other.getByRole("link", { name: "Sign in" })).toBeVisible();
  // Refused stream and poll requests are logged by Chromium; expected here.
  expect(otherErrors.filter((e) => !/api\/events|401|net::ERR_/.test(e))).toEqual([]);
});
