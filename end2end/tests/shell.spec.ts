import { test, expect, hydrated, signUp } from "./fixtures";

test("the dashboard hydrates and its links navigate inside the app", async ({ page }) => {
  await signUp(page);
  await page.goto("/");
  await expect(page).toHaveTitle("Dashboard · Herald");
  await hydrated(page);
  await expect(page.getByTestId("dashboard-summary")).toHaveText("You're all caught up.");
  // Only the hydrated router keeps this page's window across the click.
  await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
  await page.getByRole("link", { name: "Start a conversation" }).click();
  await expect(page).toHaveURL(/\/messages$/);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Messages");
  expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(42);
});

test("navigation is client-side and marks the current page", async ({ page }) => {
  await signUp(page);
  await page.goto("/");
  await hydrated(page);
  const nav = page.getByRole("navigation", { name: "Main" });
  await nav.getByRole("link", { name: "Settings" }).click();
  await expect(page).toHaveURL(/\/settings$/);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Settings");
  await expect(nav.getByRole("link", { name: "Settings" })).toHaveAttribute("aria-current", "page");
  await expect(nav.getByRole("link", { name: "Dashboard" })).not.toHaveAttribute("aria-current", "page");
});

test("an unknown address shows the 404 page", async ({ page, consoleErrors }) => {
  const response = await page.goto("/no/such/page");
  expect(response?.status()).toBe(404);
  await expect(page.getByRole("heading", { name: "Page not found" })).toBeVisible();
  await hydrated(page);
  await page.getByRole("link", { name: "Back to the dashboard" }).click();
  await expect(page).toHaveURL(/\/$/);
  // Chromium logs the document's own 404 status; that one is intended.
  const intended = (e: string) => e.includes("404") && e.endsWith("/no/such/page");
  expect(consoleErrors.filter(intended)).toHaveLength(1);
  consoleErrors.splice(0, consoleErrors.length, ...consoleErrors.filter((e) => !intended(e)));
});

test("styles are served and dark mode follows the system", async ({ browser }) => {
  const context = await browser.newContext({ colorScheme: "dark" });
  const page = await context.newPage();
  await page.goto("/login");
  const dark = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  await context.close();

  const lightContext = await browser.newContext({ colorScheme: "light" });
  const lightPage = await lightContext.newPage();
  await lightPage.goto("/login");
  const light = await lightPage.evaluate(() => getComputedStyle(document.body).backgroundColor);
  await lightContext.close();

  expect(dark).not.toEqual(light);
  expect(light).not.toEqual("rgba(0, 0, 0, 0)");
});
