// The end user's screens in headless Chromium: the dashboard's news going
// live, the phone layout (360 px: no sideways scrolling, a tab bar that
// navigates, thumb-sized targets, a composer above the keyboard),
// notification actions in the center and in toasts, the server-rendered
// lists, keyboard use with visible focus, and axe-core on every page in
// both themes.
import * as http from "node:http";
import { Browser, Page } from "@playwright/test";
import {
  test,
  expect,
  hydrated,
  signUp,
  signIn,
  adminApi,
  publish,
  connectionStatus,
  uniqueName,
  ADMIN,
} from "./fixtures";

const baseURL = () => test.info().project.use.baseURL as string;
/** The one origin besides Herald that the server lets POST actions call. */
const actionOrigin = () => `http://127.0.0.1:${Number(new URL(baseURL()).port) + 1}`;

/** The integrator's endpoint: records POSTs, answers CORS for Herald. */
async function startActionEndpoint() {
  const received: { path: string; body: string }[] = [];
  const herald = new URL(baseURL()).origin;
  const server = http.createServer((req, res) => {
    const cors = {
      "access-control-allow-origin": herald,
      "access-control-allow-credentials": "true",
      "access-control-allow-methods": "POST",
      "access-control-allow-headers": "content-type",
    };
    if (req.method === "OPTIONS") {
      res.writeHead(204, cors);
      res.end();
      return;
    }
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      received.push({ path: req.url ?? "", body });
      res.writeHead(req.url?.includes("fail") ? 409 : 200, { ...cors, "content-type": "application/json" });
      res.end("{}");
    });
  });
  const port = Number(new URL(actionOrigin()).port);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  return { received, close: () => new Promise((resolve) => server.close(resolve)) };
}

test("the dashboard shows what is new and goes live", async ({ page }) => {
  const user = await signUp(page);
  await page.goto("/");
  await hydrated(page);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Dashboard");
  const summary = page.getByTestId("dashboard-summary");
  await expect(summary).toHaveText("You're all caught up.");
  await expect(page.getByText("Server", { exact: true })).toHaveCount(0);
  await expect(connectionStatus(page)).toHaveText("Live");

  const api = await adminApi(baseURL());
  await publish(api, user, "Weekly report ready", { priority: "low" });
  await expect(summary).toHaveText("You have 1 unread notification.");
  await publish(api, user, "Payment failed", { priority: "urgent", category: "payment" });
  await expect(summary).toHaveText("You have 2 unread notifications.");
  // Urgent first, whatever the order of arrival.
  const items = page.getByTestId("dashboard-notification");
  await expect(items).toHaveCount(2);
  await expect(items.first()).toContainText("Payment failed");
  const categories = page.getByTestId("dashboard-category");
  await expect(categories).toHaveText(["Jobs 1", "Payments 1"]);

  // Reading elsewhere (the center) updates it too.
  await page.getByRole("link", { name: "Open the notification center" }).click();
  await expect(page).toHaveURL(/\/notifications$/);
  await page.getByRole("button", { name: "Mark all as read" }).click();
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Dashboard" }).click();
  await expect(page.getByTestId("dashboard-summary")).toHaveText("You're all caught up.");
});

test("a page rendered by the server loses nothing that arrives before the stream", async ({ page }) => {
  const user = await signUp(page);
  const api = await adminApi(baseURL());
  await publish(api, user, "Before the page");
  // Hold the page's script so the WASM (and its stream) start late, and
  // publish while the server-rendered list is already on screen.
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  await page.route("**/pkg/*.wasm", async (route) => {
    await held;
    await route.continue();
  });
  await page.goto("/notifications", { waitUntil: "domcontentloaded" });
  await expect(page.getByTestId("notification-item")).toHaveCount(1);
  await expect(page.getByTestId("notification-item")).toContainText("Before the page");
  await publish(api, user, "While the page hydrates");
  release();
  await hydrated(page);
  await expect(page.getByTestId("notification-item")).toHaveCount(2);
  await expect(page.getByTestId("notification-item").first()).toContainText("While the page hydrates");
  await publish(api, user, "After hydration");
  await expect(page.getByTestId("notification-item")).toHaveCount(3);
  await expect(page.getByTestId("unread-badge")).toHaveText("3");
});

test("actions work from the dashboard, the center and toasts and mark the notification read", async ({
  page,
  consoleErrors,
}) => {
  const endpoint = await startActionEndpoint();
  try {
    const user = await signUp(page);
    const api = await adminApi(baseURL());
    await publish(api, user, "Shift offer: Saturday", {
      actions: [
        { label: "Accept", method: "POST", url: `${actionOrigin()}/offers/42/accept`, body: { offer: 42 } },
        { label: "Decline", method: "POST", url: `${actionOrigin()}/offers/42/fail` },
        { label: "View offer", url: "/messages" },
      ],
    });
    await page.goto("/notifications");
    await hydrated(page);
    const item = page.getByTestId("notification-item").first();
    await expect(item).toHaveAttribute("data-read", "false");
    // A refusal is reported and leaves the notification unread.
    await item.getByRole("button", { name: "Decline" }).click();
    await expect(item.getByRole("status").filter({ hasText: "the server answered 409" })).toBeVisible();
    await expect(item).toHaveAttribute("data-read", "false");
    // Chromium logs the refused request; that one is intended.
    await expect.poll(() => consoleErrors.some((e) => e.includes("/offers/42/fail"))).toBe(true);
    consoleErrors.splice(0, consoleErrors.length, ...consoleErrors.filter((e) => !e.includes("/offers/42/fail")));
    await item.getByRole("button", { name: "Accept" }).click();
    await expect(item.getByRole("button", { name: "Accept ✓" })).toBeVisible();
    await expect(item).toHaveAttribute("data-read", "true");
    await expect(page.getByTestId("unread-badge")).toBeHidden();
    expect(endpoint.received).toContainEqual({ path: "/offers/42/accept", body: '{"offer":42}' });

    // The dashboard's buttons come with their own module, on a direct load
    // as the server rendered them. The body goes back as the publisher
    // wrote it.
    await publish(api, user, "Swap shifts with Ana?", {
      priority: "high",
      actions: [{ label: "Swap", method: "POST", url: `${actionOrigin()}/swaps/9`, body: { swap: 9, note: "a\"b" } }],
    });
    await page.goto("/");
    await hydrated(page);
    const pressing = page.getByTestId("dashboard-notification").filter({ hasText: "Swap shifts with Ana?" });
    await pressing.getByRole("button", { name: "Swap" }).click();
    await expect.poll(() => endpoint.received.some((r) => r.path === "/swaps/9")).toBe(true);
    const swap = endpoint.received.find((r) => r.path === "/swaps/9");
    expect(JSON.parse(swap?.body ?? "null")).toEqual({ swap: 9, note: 'a"b' });
    // Read now, so no longer among the pressing ones.
    await expect(pressing).toHaveCount(0);

    // A toast's open action follows its link and reads the notification.
    await publish(api, user, "Receipt for order 7", {
      category: "payment",
      actions: [{ label: "View receipt", url: "/settings" }],
    });
    const toast = page.getByTestId("toast").filter({ hasText: "Receipt for order 7" });
    await expect(toast).toBeVisible();
    await toast.getByRole("link", { name: "View receipt" }).click();
    await expect(page).toHaveURL(/\/settings$/);
    await expect(toast).toHaveCount(0);
    await expect(page.getByTestId("unread-badge")).toBeHidden();
  } finally {
    await endpoint.close();
  }
});

/** Signs up another person and starts a direct conversation with them
 * from `page`'s list; returns the conversation's path. */
async function startWithNewPerson(page: Page, browser: Browser): Promise<string> {
  const other = await browser.newContext();
  const name = await signUp(await other.newPage(), uniqueName("b"));
  await other.close();
  await page.goto("/messages");
  await hydrated(page);
  await page.getByText("New conversation").click();
  await page.getByLabel("Username").fill(name);
  await page.getByRole("button", { name: "Start conversation" }).click();
  await expect(page).toHaveURL(/\/messages\/\d+$/);
  return new URL(page.url()).pathname;
}

/** Every page a signed-in admin can open, with a conversation to show. */
async function everyPage(page: Page, browser: Browser): Promise<string[]> {
  const conversation = await startWithNewPerson(page, browser);
  return [
    "/",
    "/notifications",
    "/messages",
    conversation,
    "/settings",
    "/admin/status",
    "/admin/users",
    "/admin/tokens",
    "/admin/api",
    "/admin/announce",
    "/admin/notify",
    "/no/such/page",
  ];
}

test("at 360 px nothing scrolls sideways, the tab bar navigates and targets are thumb-sized", async ({
  browser,
}) => {
  test.setTimeout(240_000);
  for (const colorScheme of ["light", "dark"] as const) {
    for (const width of [360, 390, 768]) {
      const context = await browser.newContext({ viewport: { width, height: 780 }, colorScheme, hasTouch: true });
      const page = await context.newPage();
      const errors: string[] = [];
      page.on("pageerror", (err) => errors.push(String(err)));
      await signIn(page, ADMIN.username, ADMIN.password);
      const paths = colorScheme === "light" && width === 360
        ? await everyPage(page, browser)
        : ["/", "/notifications", "/messages", "/settings", "/admin/status", "/admin/api"];
      for (const path of paths) {
        await page.goto(path);
        await hydrated(page);
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        expect(overflow, `${path} at ${width} px (${colorScheme}) scrolls sideways`).toBeLessThanOrEqual(0);
        // The header is one compact row.
        const header = await page.getByRole("banner").boundingBox();
        expect(header!.height, `${path} header at ${width} px`).toBeLessThanOrEqual(64);
      }
      // One "Main" navigation: the bottom tab bar on a phone and a tablet.
      const nav = page.getByRole("navigation", { name: "Main" });
      await expect(nav).toHaveCount(1);
      await expect(nav).toHaveAttribute("data-testid", "tab-bar");
      for (const link of await nav.getByRole("link").all()) {
        const box = await link.boundingBox();
        expect(box!.height).toBeGreaterThanOrEqual(44);
        expect(box!.width).toBeGreaterThanOrEqual(44);
      }
      for (const target of [page.locator("#notification-bell"), page.getByTestId("user-menu").locator("summary")]) {
        const box = await target.boundingBox();
        expect(box!.height).toBeGreaterThanOrEqual(44);
        expect(box!.width).toBeGreaterThanOrEqual(44);
      }
      await nav.getByRole("link", { name: "Messages" }).click();
      await expect(page).toHaveURL(/\/messages$/);
      await expect(nav.getByRole("link", { name: "Messages" })).toHaveAttribute("aria-current", "page");
      await nav.getByRole("link", { name: "Notifications" }).click();
      await expect(page.getByRole("heading", { level: 1 })).toHaveText("Notifications");
      if (width < 640) {
        // The center's controls are thumb-sized on a phone.
        const center = page.getByTestId("page-center");
        // (An item's title is stretched over the whole item by ::after.)
        for (const control of await center.locator("button:not([class*='after:absolute']), a[data-testid=notification-action]").all()) {
          const box = await control.boundingBox();
          if (!box) continue;
          expect(box.height, `${await control.textContent()} at ${width} px`).toBeGreaterThanOrEqual(44);
        }
      }
      // The bell's panel fits the screen.
      await page.locator("#notification-bell").tap();
      const panel = await page.locator("#notification-panel").boundingBox();
      expect(panel!.x).toBeGreaterThanOrEqual(0);
      expect(panel!.x + panel!.width).toBeLessThanOrEqual(width);
      expect(errors).toEqual([]);
      await context.close();
    }
  }
});

test("on a phone the chat composer stays above the on-screen keyboard", async ({ browser }) => {
  const context = await browser.newContext({ viewport: { width: 360, height: 740 }, hasTouch: true });
  const page = await context.newPage();
  await signUp(page);
  await startWithNewPerson(page, browser);
  const composer = page.getByRole("textbox", { name: "Message" });
  await expect(composer).toBeVisible();
  // The keyboard takes the lower part of the screen: the visual viewport
  // shrinks (what Chromium does on Android), and the composer must still
  // be in view once focused.
  await page.setViewportSize({ width: 360, height: 400 });
  await composer.tap();
  await composer.fill("On my way");
  const box = await composer.boundingBox();
  expect(box!.y + box!.height).toBeLessThanOrEqual(400);
  // Nothing (the tab bar) covers it.
  const onTop = await page.evaluate(({ x, y }) => {
    const el = document.elementFromPoint(x, y);
    return el?.getAttribute("aria-label") ?? el?.tagName;
  }, { x: box!.x + box!.width / 2, y: box!.y + box!.height / 2 });
  expect(onTop).toBe("Message");
  await composer.press("Enter");
  await expect(page.getByText("On my way")).toBeVisible();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await context.close();
});

test("keyboard only: every control is reachable, with visible focus", async ({ page }) => {
  const user = await signUp(page);
  const api = await adminApi(baseURL());
  await publish(api, user, "Review the contract", {
    actions: [{ label: "Open contract", url: "/settings" }],
  });
  await page.goto("/");
  await hydrated(page);
  await expect(page.getByTestId("dashboard-notification")).toHaveCount(1);
  const reached = new Set<string>();
  for (let step = 0; step < 40; step++) {
    await page.keyboard.press("Tab");
    const focused = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      if (!el || el === document.body) return null;
      const style = getComputedStyle(el);
      const after = getComputedStyle(el, "::after");
      const visible =
        (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0) ||
        style.boxShadow !== "none" ||
        (after.outlineStyle !== "none" && parseFloat(after.outlineWidth) > 0);
      return { name: (el.getAttribute("aria-label") || el.textContent || "").trim(), visible };
    });
    if (!focused) continue;
    expect(focused.visible, `focus on "${focused.name}" is not visible`).toBe(true);
    reached.add(focused.name);
  }
  for (const name of ["Skip to content", "Notifications", "Open contract", "Open the notification center", "Start a conversation"]) {
    expect([...reached].some((r) => r.startsWith(name)), `${name} not reached by Tab: ${[...reached].join(" | ")}`).toBe(true);
  }
  // Enter on a focused action uses it.
  await page.getByRole("link", { name: "Open contract" }).focus();
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(/\/settings$/);
});

test("axe-core finds nothing serious or critical on any page, in either theme", async ({ browser }) => {
  test.setTimeout(240_000);
  const axePath = require.resolve("axe-core/axe.min.js");
  const findings: string[] = [];
  for (const colorScheme of ["light", "dark"] as const) {
    // axe is injected as a script: the pages' CSP would refuse it.
    const context = await browser.newContext({ colorScheme, bypassCSP: true });
    const page = await context.newPage();
    // Signed out: the sign-in and registration pages.
    for (const path of ["/login", "/register"]) {
      await page.goto(path);
      await hydrated(page);
      findings.push(...(await audit(page, axePath, `${path} (${colorScheme})`)));
    }
    await signIn(page, ADMIN.username, ADMIN.password);
    const api = await adminApi(baseURL());
    await publish(api, ADMIN.username, `Audit ${colorScheme}`, {
      priority: "high",
      body: "With a body, an action and a priority badge.",
      actions: [{ label: "Open settings", url: "/settings" }],
    });
    for (const path of await everyPage(page, browser)) {
      await page.goto(path);
      await hydrated(page);
      findings.push(...(await audit(page, axePath, `${path} (${colorScheme})`)));
    }
    // The bell's open panel and a toast.
    await page.goto("/");
    await hydrated(page);
    await page.locator("#notification-bell").click();
    await expect(page.locator("#notification-panel")).toBeVisible();
    findings.push(...(await audit(page, axePath, `bell panel (${colorScheme})`)));
    await page.keyboard.press("Escape");
    await publish(api, ADMIN.username, `Toast ${colorScheme}`, { actions: [{ label: "Open", url: "/settings" }] });
    await expect(page.getByTestId("toast").first()).toBeVisible();
    findings.push(...(await audit(page, axePath, `toast (${colorScheme})`)));
    await context.close();
  }
  expect(findings, findings.join("\n")).toEqual([]);
});

/** axe-core's serious and critical violations on the page as it is now. */
async function audit(page: Page, axePath: string, where: string): Promise<string[]> {
  await page.addScriptTag({ path: axePath });
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (o: object) => Promise<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }> } }).axe;
    const result = await axe.run({ resultTypes: ["violations"] });
    return result.violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`);
  });
  return violations.map((v) => `${where}: ${v}`);
}
