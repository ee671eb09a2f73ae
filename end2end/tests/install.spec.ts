import { test, expect, hydrated, signUp, connectionStatus } from "./fixtures";

// The installable app: the web app manifest and its icons (what the
// browser reads to install Herald), and the service worker with its
// offline page.

test("the shell links a manifest that Chromium parses without errors", async ({ page }) => {
  await page.goto("/login");
  await expect(page.locator('link[rel="manifest"]')).toHaveAttribute("href", "/manifest.webmanifest");

  const cdp = await page.context().newCDPSession(page);
  const { url, errors, data } = await cdp.send("Page.getAppManifest");
  expect(url).toMatch(/\/manifest\.webmanifest$/);
  expect(errors).toEqual([]);
  const manifest = JSON.parse(data ?? "{}");
  expect(manifest).toMatchObject({
    id: "/",
    name: "Herald",
    short_name: "Herald",
    start_url: "/",
    scope: "/",
    display: "standalone",
  });
  expect(manifest.description).toBeTruthy();
  expect(manifest.theme_color).toMatch(/^#[0-9a-f]{6}$/i);
  expect(manifest.background_color).toMatch(/^#[0-9a-f]{6}$/i);
});

test("the manifest is served as a manifest and every icon is a PNG of its stated size", async ({ request }) => {
  const answer = await request.get("/manifest.webmanifest");
  expect(answer.status()).toBe(200);
  expect(answer.headers()["content-type"]).toContain("application/manifest+json");
  const manifest = await answer.json();
  const purposes = manifest.icons.map((icon: { purpose?: string }) => icon.purpose ?? "any");
  expect(purposes).toContain("maskable");
  const sizes = manifest.icons.map((icon: { sizes: string }) => icon.sizes);
  expect(sizes).toEqual(expect.arrayContaining(["192x192", "512x512"]));

  for (const icon of manifest.icons as { src: string; sizes: string; type: string }[]) {
    const image = await request.get(icon.src);
    expect(image.status(), icon.src).toBe(200);
    expect(image.headers()["content-type"], icon.src).toBe("image/png");
    const bytes = await image.body();
    // PNG signature, then the IHDR chunk's width and height (big-endian).
    expect(bytes.subarray(1, 4).toString("latin1")).toBe("PNG");
    const [width, height] = icon.sizes.split("x").map(Number);
    expect(bytes.readUInt32BE(16), icon.src).toBe(width);
    expect(bytes.readUInt32BE(20), icon.src).toBe(height);
  }
});

test("the service worker controls the page after a reload", async ({ page }) => {
  await page.goto("/login");
  await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
  await page.reload();
  const controller = await page.evaluate(() => navigator.serviceWorker.controller?.scriptURL ?? null);
  expect(controller).toMatch(/\/sw\.js\?build=/);
});

test("offline, a page load shows the offline page; back online the page and its live stream return", async ({
  page,
  context,
  consoleErrors,
}) => {
  await signUp(page);
  await page.goto("/");
  await hydrated(page);
  await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
  await page.reload();
  await hydrated(page);
  await expect(connectionStatus(page)).toHaveText("Live");

  await context.setOffline(true);
  await page.goto("/notifications");
  await expect(page.getByRole("heading", { name: "You are offline" })).toBeVisible();
  await expect(page.getByRole("link", { name: "Try again" })).toBeVisible();

  // The offline page reloads itself when the connection is back.
  await context.setOffline(false);
  await expect(page).toHaveTitle("Notifications · Herald");
  await hydrated(page);
  await expect(connectionStatus(page)).toHaveText("Live");
  // What the browser logged while the network was gone is expected.
  const offline = (e: string) => e.includes("ERR_INTERNET_DISCONNECTED") || e.includes("Failed to fetch");
  consoleErrors.splice(0, consoleErrors.length, ...consoleErrors.filter((e) => !offline(e)));
});
