// The admin area in headless Chromium: the live status page, the 404 that
// everyone else gets, user and token management, and a system
// announcement reaching another person's browser.
import { Browser, Page } from "@playwright/test";
import {
  test,
  expect,
  hydrated,
  signUp,
  signIn,
  watchErrors,
  uniqueName,
  adminApi,
  publish,
  ADMIN,
  connectionStatus,
} from "./fixtures";

const baseURL = () => test.info().project.use.baseURL as string;

async function signInAdmin(page: Page) {
  await signIn(page, ADMIN.username, ADMIN.password);
}

/** Another person in their own browser context. */
async function otherPerson(browser: Browser, errors: string[]) {
  const context = await browser.newContext();
  const page = await context.newPage();
  watchErrors(page, errors);
  const name = await signUp(page, uniqueName("p"));
  return { context, page, name };
}

function sinceStart(text: string | null): number {
  return Number((text ?? "").replace(/\D/g, ""));
}

test("the status page shows live numbers and refreshes itself", async ({ page }) => {
  await signInAdmin(page);
  await page.getByRole("link", { name: "Admin" }).click();
  await expect(page).toHaveURL(/\/admin\/status$/);
  await hydrated(page);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Status");
  await expect(connectionStatus(page)).toHaveText("Live");
  await expect(page.getByTestId("instance-id")).toHaveText(/^[0-9a-f]{12}$/);
  // This page's own event stream is one of the live connections.
  await expect(page.getByTestId("status-connections")).not.toHaveText("0");
  await expect(page.getByTestId("top-users")).toContainText(ADMIN.username);
  for (const line of ["sparkline-connections", "sparkline-published", "sparkline-delivered"]) {
    await expect(page.getByTestId(line)).toBeVisible();
  }

  // The live figures come from the herald:status topic, pushed the moment
  // they change: another person connecting shows at once.
  const streams = page.getByTestId("live-streams");
  await expect(streams).toHaveText(/^\d+$/);
  const streamsBefore = Number(await streams.textContent());
  const errors: string[] = [];
  const other = await otherPerson(page.context().browser()!, errors);
  await expect(connectionStatus(other.page)).toHaveText("Live");
  await expect.poll(async () => Number(await streams.textContent()), { timeout: 10_000 }).toBeGreaterThan(streamsBefore);
  await other.context.close();

  const published = page.getByTestId("status-published-rate-detail");
  const before = sinceStart(await published.textContent());
  const api = await adminApi(baseURL());
  for (let i = 0; i < 5; i++) await publish(api, ADMIN.username, `status check ${i}`);
  // The page refreshes by itself: the totals and the latency follow.
  await expect
    .poll(async () => sinceStart(await published.textContent()), { timeout: 10_000 })
    .toBeGreaterThanOrEqual(before + 5);
  await expect(page.getByTestId("latency-p50")).not.toHaveText("—");
  await expect(page.getByTestId("latency-p99")).toHaveText(/ms|s$/);
  await expect(page.getByTestId("status-verdict")).toHaveText(/Delivery (healthy|slow)/);
  const uptime = await page.getByTestId("uptime").textContent();
  await expect(page.getByTestId("uptime")).not.toHaveText(uptime ?? "", { timeout: 5_000 });

  // Readable on a phone: nothing wider than the screen.
  await page.setViewportSize({ width: 390, height: 844 });
  const overflow = await page.evaluate(
    () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
  );
  expect(overflow).toBeLessThanOrEqual(0);
  await api.dispose();
});

test("people who are not admins get the 404 page on admin routes", async ({ page, consoleErrors }) => {
  await signUp(page);
  const paths = ["/admin/status", "/admin/users", "/admin/tokens", "/admin/announce", "/admin/notify"];
  for (const path of paths) {
    const response = await page.goto(path);
    expect(response?.status(), path).toBe(404);
    await hydrated(page);
    await expect(page.getByRole("heading", { level: 1 })).toHaveText("Page not found");
  }
  await expect(page.getByRole("link", { name: "Admin" })).toHaveCount(0);
  // Chromium logs each document's own 404 status; those are intended.
  const intended = (e: string) => e.includes("404") && paths.some((p) => e.endsWith(p));
  consoleErrors.splice(0, consoleErrors.length, ...consoleErrors.filter((e) => !intended(e)));
});

test("admins announce to everyone, manage users and create and revoke tokens", async ({
  page,
  browser,
}) => {
  const errors: string[] = [];
  const person = await otherPerson(browser, errors);
  await expect(connectionStatus(person.page)).toHaveText("Live");
  await signInAdmin(page);

  // A system announcement reaches the other person live.
  await page.goto("/admin/announce");
  await hydrated(page);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("System announcement");
  await expect(page.getByLabel("Usernames")).toHaveCount(0);
  await page.getByLabel("Title").fill("Maintenance tonight");
  await page.getByLabel("Message").fill("Herald restarts at 22:00 UTC.");
  await page.getByRole("button", { name: "Send announcement" }).click();
  await expect(page.getByTestId("send-result")).toHaveText(/^Sent to \d+ users\.$/);
  await expect(person.page.getByTestId("toast").filter({ hasText: "Maintenance tonight" })).toBeVisible();

  // Users: search, promote, disable.
  await page.getByRole("link", { name: "Users" }).click();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Users");
  await page.getByLabel("Search users").fill(person.name);
  const row = page.getByTestId("account-row");
  await expect(row).toHaveCount(1);
  await page.getByLabel(`Role of ${person.name}`).selectOption("admin");
  await page.getByRole("button", { name: `Disable ${person.name}` }).click();
  await expect(row.getByTestId("account-state")).toHaveText("Disabled");
  // Their session ended with it.
  await expect(connectionStatus(person.page)).not.toHaveText("Live", { timeout: 15_000 });
  await page.reload();
  await hydrated(page);
  await page.getByLabel("Search users").fill(person.name);
  // The search answers asynchronously: until it does, every account is listed.
  await expect(page.getByTestId("account-row")).toHaveCount(1);
  await expect(page.getByLabel(`Role of ${person.name}`)).toHaveValue("admin");
  await expect(page.getByTestId("account-row").getByTestId("account-state")).toHaveText("Disabled");
  await page.getByRole("button", { name: `Enable ${person.name}` }).click();
  await expect(page.getByTestId("account-row").getByTestId("account-state")).toHaveText("Active");

  // Tokens: shown once, listed without the secret, revoked with a confirmation.
  await page.getByRole("link", { name: "API tokens" }).click();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("API tokens");
  const tokenName = uniqueName("svc");
  await page.getByLabel("Token name").fill(tokenName);
  // A limit that is not a number is refused at the field, nothing created.
  await page.getByLabel("Publishes per minute").fill("fast");
  await page.getByRole("button", { name: "Create token" }).click();
  await expect(page.getByLabel("Publishes per minute")).toHaveAttribute("aria-invalid", "true");
  await expect(page.getByTestId("new-token")).toHaveCount(0);
  await page.getByLabel("Publishes per minute").fill("600");
  await page.getByRole("button", { name: "Create token" }).click();
  const secret = page.getByTestId("new-token");
  await expect(secret).toHaveValue(/^hrld_/);
  const tokenValue = await secret.inputValue();
  const tokenRow = page.getByTestId("token-row").filter({ hasText: tokenName });
  await expect(tokenRow).toHaveCount(1);
  await expect(tokenRow.getByTestId("token-limit")).toHaveText("600");
  await expect(tokenRow).not.toContainText(tokenValue);
  const check = await fetch(`${baseURL()}/api/tokens/current`, {
    headers: { authorization: `Bearer ${tokenValue}` },
  });
  expect(check.status).toBe(200);
  await page.getByRole("button", { name: `Revoke ${tokenName}` }).click();
  await page.getByRole("button", { name: `Confirm revoking ${tokenName}` }).click();
  await expect(tokenRow).toHaveCount(0);
  const revoked = await fetch(`${baseURL()}/api/tokens/current`, {
    headers: { authorization: `Bearer ${tokenValue}` },
  });
  expect(revoked.status).toBe(401);
  // A reload no longer shows the secret.
  await page.reload();
  await hydrated(page);
  await expect(page.getByTestId("new-token")).toHaveCount(0);

  // The disabled person's page ended its session: console errors from the
  // refused stream are expected there, none on the admin's page.
  await person.context.close();
  expect(errors.filter((e) => !/401|Unauthorized|EventSource|events/.test(e))).toEqual([]);
});

test("the API reference lists every route from the server's own OpenAPI document", async ({ page, request, consoleErrors }) => {
  await signInAdmin(page);
  await page.goto("/admin/api");
  await hydrated(page);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("API reference");
  const document = await (await request.get("/api/openapi.json")).json();
  const operations = Object.values(document.paths as Record<string, object>).reduce(
    (count: number, item) => count + Object.keys(item).length,
    0,
  );
  await expect(page.getByTestId("api-route")).toHaveCount(operations);
  const topics = page.getByRole("region", { name: "topics" });
  await expect(topics).toContainText("/api/topics/subscriptions");
  await topics.getByRole("link", { name: "ChangeRequest" }).click();
  const schema = page.locator("#schema-ChangeRequest");
  await schema.locator("summary").click();
  await expect(schema).toContainText("connection_id");
  expect(consoleErrors).toEqual([]);
});
