// What the browser tests share: Chromium as Debian ships it, a signed-in student per context,
// and reading the lesson off the page as a student sees it.

import { chromium } from "playwright-core";

export const URL = process.env.PIZARRA_URL ?? "http://127.0.0.1:5000";
export const QUESTION = "¿Cómo se resuelve una ecuación de segundo grado?";
export const LESSON_MS = 60_000;
const RUN = Date.now().toString(36);

// Flags for a machine with no network but the backend (no background calls to Google).
const QUIET = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

export function launch(extraArgs = []) {
  return chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: [...QUIET, ...extraArgs] });
}

// A new student (a new email every run), signed in with the local dev sign-in.
export async function newStudent(browser, email, { viewport = { width: 1280, height: 900 }, initScript = null, permissions = [] } = {}) {
  const context = await browser.newContext({ viewport, locale: "es-ES", permissions });
  if (initScript) await context.addInitScript(initScript);
  const page = await context.newPage();
  const outside = [];
  page.on("request", (request) => {
    if (!request.url().startsWith(URL) && !request.url().startsWith("data:")) outside.push(request.url());
  });
  const problems = [];
  page.on("pageerror", (error) => problems.push(String(error)));
  const sent = []; // the names of the Socket.IO events the page sent
  page.on("websocket", (ws) =>
    ws.on("framesent", (frame) => {
      const name = /^42\d*\["([a-z_]+)"/.exec(String(frame.payload))?.[1];
      if (name) sent.push(name);
    }),
  );
  await page.goto(URL);
  await page.getByLabel("Correo").fill(email.replace("@", `+${RUN}@`));
  await page.getByRole("button", { name: "Entrar (desarrollo)" }).click();
  await page.getByRole("button", { name: "Lección" }).waitFor();
  await page.locator(".account .credits").waitFor();
  return { context, page, outside, problems, sent };
}

export const stepsText = (page) => page.locator(".step .text").evaluateAll((nodes) => nodes.map((n) => n.textContent).join("\n"));
export const stepsHtml = (page) => page.locator(".step .text").evaluateAll((nodes) => nodes.map((n) => n.innerHTML));

export async function waitForStatus(page, status, timeout = LESSON_MS) {
  await page.locator(`section.lesson[data-kind="lesson"][data-status="${status}"]`).waitFor({ timeout });
}

// Non-white pixels on the board's canvas.
export async function inkOnBoard(page) {
  return page.locator(".board canvas").evaluate((canvas) => {
    const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
    let ink = 0;
    for (let i = 0; i < data.length; i += 16) if (data[i] < 200 || data[i + 1] < 200 || data[i + 2] < 200) ink += 1;
    return ink;
  });
}

export async function ask(page, question) {
  const box = page.locator("#question");
  await box.fill(question);
  await box.press("Enter"); // the keyboard is enough
}

// Asks the seeded question and waits until the lesson is into its second step.
export async function startLesson(page, question = QUESTION) {
  await ask(page, question);
  await page.waitForFunction(() => document.querySelectorAll(".step").length >= 2, null, { timeout: LESSON_MS });
}
