import { test, expect, hydrated, uniqueName, PASSWORD } from "./fixtures";

test("sign up, sign out and sign in again through the UI", async ({ page }) => {
  const username = uniqueName("e2e");

  // An anonymous visitor is sent to sign in, remembering where they were going.
  await page.goto("/messages");
  await expect(page).toHaveURL(/\/login\?next=\/messages$/);
  await hydrated(page);
  await page.getByRole("link", { name: "Create an account" }).click();
  await expect(page).toHaveURL(/\/register\?next=\/messages$/);

  // Inline validation from the server, next to the field it is about.
  await page.getByLabel("Username").fill("x");
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByText("Username must be 3 to 32 characters long.")).toBeVisible();
  await expect(page.getByLabel("Username")).toHaveAttribute("aria-invalid", "true");

  await page.getByLabel("Username").fill(username);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page).toHaveURL((url) => url.pathname === "/messages");
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Messages");

  // Sign out from the user menu.
  await page.getByTestId("user-menu").locator("summary").click();
  await expect(page.getByText(`@${username}`)).toBeVisible();
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login$/);
  await page.goto("/");
  await expect(page).toHaveURL(/\/login\?next=\/$/);

  // A wrong password is refused in words; the right one signs in.
  await hydrated(page);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill("wrong password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert").filter({ hasText: "Wrong username or password." })).toBeVisible();
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL((url) => url.pathname === "/");
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Dashboard");
  await expect(page.getByTestId("user-menu")).toBeVisible();
});

test("signing in works before the WASM has loaded (plain form post)", async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  const username = uniqueName("nojs");
  await page.goto("/register");
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page).toHaveURL((url) => url.pathname === "/");
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Dashboard");
  await context.close();
});
