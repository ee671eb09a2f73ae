// Account protection as a person meets it: wrong passwords tried by a
// stranger are reported after the owner signs in (and do not lock the
// owner's browser out), and presence can be hidden from Settings.
import { request } from "@playwright/test";
import { test, expect, hydrated, signUp, signIn } from "./fixtures";

const baseURL = () => test.info().project.use.baseURL as string;

test("a stranger's wrong passwords are reported to the owner after sign-in", async ({ page }) => {
  const username = await signUp(page);
  await page.getByTestId("user-menu").locator("summary").click();
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login$/);

  // Somewhere else, someone guesses.
  const stranger = await request.newContext({ baseURL: baseURL() });
  for (const guess of ["password1", "letmein!!", "qwertyuiop"]) {
    const answer = await stranger.post("/api/auth/login", { data: { username, password: guess } });
    expect(answer.status()).toBe(401);
  }
  await stranger.dispose();

  await signIn(page, username);
  await page.goto("/notifications");
  await hydrated(page);
  await expect(page.getByText("3 failed sign-in attempts since your last visit")).toBeVisible();
});

test("presence can be hidden from Settings and stays hidden", async ({ page }) => {
  await signUp(page);
  await page.goto("/settings");
  await hydrated(page);
  const hide = page.getByLabel("Hide when I am online");
  await expect(hide).not.toBeChecked();
  await hide.check();
  const privacy = page.getByRole("region", { name: "Privacy" });
  await expect(privacy.getByText("Saved")).toBeVisible();
  await page.reload();
  await hydrated(page);
  await expect(page.getByLabel("Hide when I am online")).toBeChecked();
});
