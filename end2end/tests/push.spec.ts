import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { chromium, Page, Worker } from "@playwright/test";
import { test, expect, hydrated, signUp, adminApi } from "./fixtures";

// The installed app and Web Push in the browser: Chromium's own verdict on
// installability, the "Install app" button, subscribing from Settings
// (with the browser's push service stubbed: a real one is out of reach
// here; the server's side is tested against a mock push service in
// tests/push.rs), and the service worker's handling of a delivered push.

test("Chromium finds Herald installable", async ({ baseURL }) => {
  // A persistent profile: a normal (incognito-like) context always answers
  // "in-incognito".
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "herald-profile-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
    baseURL,
  });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto("/login");
    await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
    const cdp = await context.newCDPSession(page);
    let errors: { errorId: string }[] = [];
    // The icons and the worker arrive after the page: ask until settled.
    await expect
      .poll(
        async () => {
          ({ installabilityErrors: errors } = await cdp.send("Page.getInstallabilityErrors"));
          return errors.map((e) => e.errorId);
        },
        { timeout: 15_000 },
      )
      .toEqual([]);
    const manifest = await cdp.send("Page.getAppManifest");
    expect(manifest.errors).toEqual([]);
    console.log(`installability errors: ${JSON.stringify(errors)}`);
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
});

test("the Install app button appears only while the browser offers installation", async ({ page }) => {
  await page.goto("/login");
  await hydrated(page);
  await expect(page.getByTestId("install-app")).toHaveCount(0);
  // What Chromium fires when Herald becomes installable.
  await page.evaluate(() => {
    const offer = new Event("beforeinstallprompt", { cancelable: true }) as Event & { prompt?: () => Promise<void> };
    offer.prompt = () => {
      (window as unknown as { prompted: boolean }).prompted = true;
      return Promise.resolve();
    };
    window.dispatchEvent(offer);
  });
  const install = page.getByRole("button", { name: "Install app" });
  await expect(install).toBeVisible();
  await install.click();
  expect(await page.evaluate(() => (window as unknown as { prompted?: boolean }).prompted)).toBe(true);
  await expect(page.getByTestId("install-app")).toHaveCount(0);
});

/** Replaces the browser's push service with one that answers at once. */
async function stubPushService(page: Page) {
  await page.addInitScript(() => {
    const encode = (bytes: Uint8Array) =>
      btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    let current: object | null = null;
    PushManager.prototype.subscribe = async function (options?: PushSubscriptionOptionsInit) {
      const key = new Uint8Array(options?.applicationServerKey as ArrayBuffer);
      (window as unknown as Record<string, unknown>).subscribedWith = {
        userVisibleOnly: options?.userVisibleOnly,
        key: encode(key),
      };
      const pair = await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"]);
      const p256dh = encode(new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey)));
      const auth = encode(crypto.getRandomValues(new Uint8Array(16)));
      const endpoint = `https://fcm.googleapis.com/fcm/send/e2e-${Math.random().toString(36).slice(2)}`;
      const subscription = {
        endpoint,
        expirationTime: null,
        toJSON: () => ({ endpoint, expirationTime: null, keys: { p256dh, auth } }),
        unsubscribe: async () => {
          current = null;
          return true;
        },
      };
      current = subscription;
      return subscription as unknown as PushSubscription;
    };
    PushManager.prototype.getSubscription = async () => current as PushSubscription | null;
  });
}

test("Settings subscribes this device, lists it, removes it and turns push off", async ({ page, context }) => {
  await context.grantPermissions(["notifications"]);
  await stubPushService(page);
  await signUp(page);
  await page.goto("/settings");
  await hydrated(page);
  const section = page.getByTestId("push-settings");
  await expect(section.getByRole("heading", { name: "Push notifications on this device" })).toBeVisible();
  const state = page.getByTestId("push-state");
  await expect(state).toHaveText("This device does not receive push notifications.");
  await expect(page.getByTestId("push-devices")).toHaveText("No device receives push notifications yet.");

  await page.getByRole("button", { name: "Turn on push notifications" }).click();
  await expect(state).toHaveText("This device receives push notifications while no Herald tab is open.");
  const key = (await (await page.request.get("/api/push/key")).json()).public_key;
  expect(await page.evaluate(() => (window as unknown as Record<string, unknown>).subscribedWith)).toEqual({
    userVisibleOnly: true,
    key,
  });
  const device = page.getByTestId("push-device");
  await expect(device).toHaveCount(1);
  await expect(device).toContainText("Chrome on Linux");
  await expect(device).toContainText("fcm.googleapis.com");
  await expect(device).toContainText("no push yet");
  const listed = await (await page.request.get("/api/push/subscriptions")).json();
  expect(listed.subscriptions).toHaveLength(1);

  // Push can be switched off for every device in the preferences.
  const preference = page.getByTestId("push-preference");
  await expect(preference).toBeChecked();
  await preference.uncheck();
  await expect
    .poll(async () => (await (await page.request.get("/api/preferences")).json()).push)
    .toBe(false);
  await preference.check();

  await page.getByRole("button", { name: "Remove Chrome on Linux" }).click();
  await expect(page.getByTestId("push-devices")).toHaveText("No device receives push notifications yet.");
  await page.getByRole("button", { name: "Turn off on this device" }).click();
  await expect(state).toHaveText("This device does not receive push notifications.");
  await expect(page.getByRole("button", { name: "Turn on push notifications" })).toBeVisible();
});

test("a user who blocks notifications is told how to allow them, and nothing is subscribed", async ({ page }) => {
  await stubPushService(page);
  // The user answers the permission prompt with "Block" (headless Chromium
  // shows no prompt to answer).
  await page.addInitScript(() => {
    let answer: NotificationPermission = "default";
    Object.defineProperty(Notification, "permission", { get: () => answer });
    Notification.requestPermission = async () => {
      answer = "denied";
      return answer;
    };
  });
  await signUp(page);
  await page.goto("/settings");
  await hydrated(page);
  await page.getByRole("button", { name: "Turn on push notifications" }).click();
  await expect(page.getByTestId("push-state")).toContainText("blocks notifications from this site");
  await expect(page.getByRole("button", { name: "Turn on push notifications" })).toHaveCount(0);
  const listed = await (await page.request.get("/api/push/subscriptions")).json();
  expect(listed.subscriptions).toHaveLength(0);
});

type Shown = { title: string; tag: string; requireInteraction: boolean; body: string; data: { id: number; url: string } };

/** Records what the service worker shows and badges, instead of the OS. */
async function watchWorker(worker: Worker) {
  await worker.evaluate(() => {
    const scope = self as unknown as Record<string, unknown> & ServiceWorkerGlobalScope;
    scope.shown = [];
    scope.badge = null;
    scope.registration.showNotification = async (title: string, options?: NotificationOptions) => {
      (scope.shown as unknown[]).push({ title, ...options });
    };
    const nav = scope.navigator as unknown as Record<string, unknown>;
    nav.setAppBadge = async (count: number) => {
      scope.badge = count;
    };
    nav.clearAppBadge = async () => {
      scope.badge = 0;
    };
  });
}

test("a delivered push is shown unless already read, badges the app, and a click marks it read", async ({
  page,
  context,
  baseURL,
}) => {
  const user = await signUp(page);
  await page.goto("/");
  await hydrated(page);
  const cdp = await context.newCDPSession(page);
  const registrations: { registrationId: string; scopeURL: string; isDeleted: boolean }[] = [];
  cdp.on("ServiceWorker.workerRegistrationUpdated", ({ registrations: updated }) => registrations.push(...updated));
  await cdp.send("ServiceWorker.enable");
  await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
  await expect.poll(() => registrations.filter((r) => !r.isDeleted).length).toBeGreaterThan(0);
  const registrationId = registrations.find((r) => !r.isDeleted)!.registrationId;
  const worker = context.serviceWorkers()[0] ?? (await context.waitForEvent("serviceworker"));
  await watchWorker(worker);

  const admin = await adminApi(baseURL!);
  const sent = async (title: string) => {
    const answer = await admin.post("/api/notifications", {
      data: { to: [user], category: "payment", priority: "urgent", title, key: `pay:${title}` },
    });
    expect(answer.status()).toBe(202);
    return (await answer.json()).ids[0] as number;
  };
  const readAlready = await sent("Read elsewhere");
  const fresh = await sent("Payment received");
  expect((await page.request.post(`/api/notifications/${readAlready}/read`)).status()).toBe(204);

  // No Herald window has the focus now: the page shows nothing itself.
  await page.goto("about:blank");
  const origin = new URL(baseURL!).origin;
  const push = (id: number, title: string, unread: number) =>
    cdp.send("ServiceWorker.deliverPushMessage", {
      origin,
      registrationId,
      data: JSON.stringify({
        id,
        title,
        body: "€42 from Bob",
        url: "/notifications",
        category: "payment",
        priority: "urgent",
        key: `pay:${title}`,
        unread_count: unread,
        created_at: new Date().toISOString(),
      }),
    });
  await push(readAlready, "Read elsewhere", 3);
  await expect.poll(() => worker.evaluate(() => (self as unknown as { badge: number }).badge)).toBe(3);
  await push(fresh, "Payment received", 7);
  await expect.poll(() => worker.evaluate(() => (self as unknown as { badge: number }).badge)).toBe(7);
  // The badge is set first; the notification follows the server's answer.
  const shownNow = () => worker.evaluate(() => (self as unknown as { shown: Shown[] }).shown);
  await expect.poll(async () => (await shownNow()).length).toBeGreaterThan(0);
  await page.waitForTimeout(500);
  const shown = await shownNow();
  expect(shown).toHaveLength(1);
  expect(shown[0]).toMatchObject({
    title: "Payment received",
    body: "€42 from Bob",
    tag: "key:pay:Payment received",
    requireInteraction: true,
    data: { id: fresh, url: "/notifications" },
  });

  // A click: what the worker's notificationclick handler runs for it
  // (outside a real click the browser refuses to focus or open a window;
  // marking read does not depend on it).
  await worker.evaluate(
    ({ id, url }) => (self as unknown as { openAndMarkRead: (id: number, url: string) => Promise<void> }).openAndMarkRead(id, url),
    shown[0].data,
  );
  await expect
    .poll(async () => (await (await page.request.get(`/api/notifications/${fresh}`)).json()).notification.read)
    .toBe(true);
});
