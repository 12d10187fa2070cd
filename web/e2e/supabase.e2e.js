// Signing in with Google through Supabase in a real browser: the page's @supabase/supabase-js
// goes to Supabase Auth's /authorize (PKCE), comes back with a code, exchanges it for a session,
// and the student has a lesson with that session's token; "Salir" signs out of Supabase too.
//
//   PIZARRA_URL=http://127.0.0.1:5000 SUPABASE_URL=http://127.0.0.1:9999 node --test e2e/supabase.e2e.js
//
// PIZARRA_URL: the backend serving the built page, with SUPABASE_URL and SUPABASE_KEY set and
// local auth off. SUPABASE_URL: Supabase Auth (tests/fake_gotrue.py under test), which signs in
// the account the test prepared when Google's consent is asked for.
// CHROMIUM: the browser (default /usr/bin/chromium). ARTIFACTS: where screenshots go.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { QUESTION, URL as BACKEND, ask, launch, waitForStatus } from "./student.js";

const ARTIFACTS = process.env.ARTIFACTS ?? path.resolve("../test-artifacts/web");
const SUPABASE_URL = process.env.SUPABASE_URL;

let browser;

before(async () => {
  assert.ok(SUPABASE_URL, "SUPABASE_URL is needed: where Supabase Auth answers");
  mkdirSync(ARTIFACTS, { recursive: true });
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

const wsToHttp = (url) => url.replace(/^ws/, "http");

test("a student signs in with Google through Supabase, has a lesson and signs out", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "es-ES" });
  const page = await context.newPage();
  const requests = []; // every request the page made: method and URL
  const navigations = []; // the top-level documents, redirects included
  page.on("request", (request) => {
    requests.push({ method: request.method(), url: request.url() });
    if (request.isNavigationRequest() && request.frame() === page.mainFrame()) navigations.push(request.url());
  });
  page.on("websocket", (ws) => requests.push({ method: "WEBSOCKET", url: wsToHttp(ws.url()) }));
  const problems = [];
  page.on("pageerror", (error) => problems.push(String(error)));

  await page.goto(BACKEND);
  const google = page.getByRole("button", { name: "Entrar con Google" });
  await google.waitFor();
  assert.equal(await page.getByRole("button", { name: "Entrar (desarrollo)" }).count(), 0, "no dev sign-in");
  assert.equal(await page.getByLabel("Correo").count(), 0, "no email field");
  await page.screenshot({ path: path.join(ARTIFACTS, "supabase-sign-in.png"), fullPage: true });

  // Google's consent is granted at once by the stand-in; the browser comes back with a code.
  await google.click();
  await page.locator(".account .credits").waitFor();
  await page.getByRole("button", { name: "Lección" }).waitFor();

  const authorize = navigations.map((url) => new URL(url)).find((url) => url.href.startsWith(`${SUPABASE_URL}/auth/v1/authorize`));
  assert.ok(authorize, `the browser went to Supabase's /authorize: ${navigations.join(" -> ")}`);
  assert.equal(authorize.searchParams.get("provider"), "google");
  assert.equal(authorize.searchParams.get("code_challenge_method"), "s256");
  assert.match(authorize.searchParams.get("code_challenge") ?? "", /^[A-Za-z0-9_-]{43}$/);
  assert.equal(authorize.searchParams.get("redirect_to"), `${BACKEND}/`);
  const back = navigations.at(-1);
  assert.ok(back.startsWith(`${BACKEND}/?code=`), `back on the page with a code: ${navigations.join(" -> ")}`);
  const exchange = requests.find((r) => r.method === "POST" && r.url === `${SUPABASE_URL}/auth/v1/token?grant_type=pkce`);
  assert.ok(exchange, "the code was exchanged for a session");
  assert.equal(page.url(), `${BACKEND}/`, "supabase-js took the code out of the address");

  // A lesson with the Supabase session's token, charged to this student.
  await ask(page, QUESTION);
  await page.locator("section.lesson").waitFor();
  await waitForStatus(page, "complete");
  assert.ok((await page.locator(".step").count()) > 0, "the lesson has steps");
  await page.locator(".account .credits", { hasText: "9 créditos" }).waitFor();
  await page.screenshot({ path: path.join(ARTIFACTS, "supabase-lesson.png"), fullPage: true });

  // Signing out ends the session in Supabase as well, and nothing of it stays in the browser.
  // (The page shows the signed-out view at once; supabase-js's call may land a moment later.)
  const loggedOut = page
    .waitForRequest((r) => r.method() === "POST" && r.url().startsWith(`${SUPABASE_URL}/auth/v1/logout`), { timeout: 15_000 })
    .then(() => true, () => false);
  await page.getByRole("button", { name: "Salir" }).click();
  await google.waitFor();
  assert.equal(await page.locator(".account").count(), 0);
  assert.ok(await loggedOut, "supabase-js signed out of Supabase");
  assert.deepEqual(await page.evaluate(() => Object.keys(localStorage).filter((key) => key.startsWith("sb-"))), []);
  await page.reload();
  await google.waitFor();
  assert.equal(await page.locator(".account").count(), 0, "still signed out after a reload");
  await page.screenshot({ path: path.join(ARTIFACTS, "supabase-signed-out.png"), fullPage: true });

  const outside = requests.filter(({ url }) => !url.startsWith(`${BACKEND}/`) && !url.startsWith(`${SUPABASE_URL}/`) && !url.startsWith("data:"));
  assert.deepEqual(outside, [], "no request goes anywhere but the backend and Supabase");
  assert.deepEqual(problems, []);
  await context.close();
});
