// The student page in a real browser (Debian's Chromium driven by playwright-core) against a
// running backend: sign in, ask a seeded question, watch the typewriter and the board, pause,
// resume, reload mid-lesson, interrupt with a follow-up, give feedback, browse the bank.
//
//   PIZARRA_URL=http://127.0.0.1:5000 node --test e2e/lesson.e2e.js
//
// PIZARRA_URL: the backend serving the built page (local auth on, seed data loaded).
// CHROMIUM: the browser (default /usr/bin/chromium). ARTIFACTS: where screenshots go.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { LESSON_MS, QUESTION, ask, inkOnBoard, launch, newStudent, startLesson, stepsHtml, stepsText, waitForStatus } from "./student.js";

const ARTIFACTS = process.env.ARTIFACTS ?? path.resolve("../test-artifacts/web");
const FOLLOW_UP = "¿Qué es un logaritmo y cómo se calcula?"; // seeded too: no LLM needed

let browser;
let referenceHtml = null; // the steps of an uninterrupted lesson, as rendered

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

const lesson = (page) => page.locator("section.lesson");

test("a student asks by keyboard on a phone and sees the text typed and the board drawn", async () => {
  const { context, page, outside, problems } = await newStudent(browser, "movil@example.com", { viewport: { width: 390, height: 844 } });
  await ask(page, QUESTION);
  await lesson(page).waitFor();
  // The typewriter: the text grows while the lesson streams.
  await page.waitForFunction(() => document.querySelector(".step .text")?.textContent.length > 20);
  const early = (await stepsText(page)).length;
  await page.waitForTimeout(700);
  const later = (await stepsText(page)).length;
  assert.ok(later > early, `the text grows as it streams (${early} -> ${later})`);
  await page.waitForFunction(() => Number(document.querySelector(".board canvas")?.dataset.commands) > 0);
  await page.waitForTimeout(800); // the first drawing's animation
  assert.ok((await inkOnBoard(page)) > 50, "pixels are drawn on the board");
  await page.screenshot({ path: path.join(ARTIFACTS, "phone-streaming.png"), fullPage: true });

  await waitForStatus(page, "complete");
  referenceHtml = await stepsHtml(page);
  assert.equal(referenceHtml.length, 4, "the four steps of the seeded answer");
  assert.ok(referenceHtml.join("").includes('class="katex"'), "LaTeX is rendered");
  assert.equal(await page.locator(".step h3").first().textContent().then((t) => t.trim().length > 0), true);

  // "No entendí" about one step, taken back.
  const firstStep = page.locator(".step").first();
  await firstStep.getByRole("button", { name: "No entendí este paso" }).click();
  await firstStep.getByRole("button", { name: "Ya lo entendí" }).click();
  await firstStep.getByRole("button", { name: "No entendí este paso" }).waitFor();

  // Feedback after the lesson; the credits shown follow the charge.
  await page.getByText("5★").click();
  await page.getByLabel("Sí").check();
  await page.getByRole("button", { name: "Enviar opinión" }).click();
  await page.getByText("¡Gracias por tu opinión!").waitFor();
  await page.locator(".account .credits", { hasText: "9 créditos" }).waitFor();
  await page.screenshot({ path: path.join(ARTIFACTS, "phone-complete.png"), fullPage: true });
  assert.deepEqual(outside, [], "no request leaves the backend");
  assert.deepEqual(problems, []);
  await context.close();
});

test("pausing stops the text, resuming completes it identically", async () => {
  assert.ok(referenceHtml, "needs the uninterrupted lesson");
  const { context, page, problems } = await newStudent(browser, "pausa@example.com");
  await startLesson(page);
  await page.getByRole("button", { name: "Pausar" }).click();
  await waitForStatus(page, "paused");
  const paused = await stepsText(page);
  await page.waitForTimeout(1500);
  assert.equal(await stepsText(page), paused, "nothing is typed while paused");
  await page.screenshot({ path: path.join(ARTIFACTS, "paused.png"), fullPage: true });
  await page.getByRole("button", { name: "Reanudar" }).click();
  await waitForStatus(page, "complete");
  assert.deepEqual(await stepsHtml(page), referenceHtml);
  assert.deepEqual(problems, []);
  await context.close();
});

test("stopping ends the lesson: nothing more is typed and there is nothing to resume", async () => {
  const { context, page, problems } = await newStudent(browser, "detener@example.com");
  await startLesson(page);
  await page.getByRole("button", { name: "Detener" }).click();
  await waitForStatus(page, "stopped");
  const stopped = await stepsText(page);
  await page.waitForTimeout(1200);
  assert.equal(await stepsText(page), stopped);
  assert.equal(await page.getByRole("button", { name: "Reanudar" }).count(), 0);
  assert.deepEqual(problems, []);
  await context.close();
});

test("a network cut mid-lesson: the page reconnects and the lesson completes identically", async () => {
  const { context, page, problems } = await newStudent(browser, "red@example.com");
  await startLesson(page);
  await context.setOffline(true);
  await page.getByText("Reconectando… tu lección seguirá donde estaba.").waitFor();
  await page.screenshot({ path: path.join(ARTIFACTS, "offline.png"), fullPage: true });
  await page.waitForTimeout(1500);
  await context.setOffline(false);
  await waitForStatus(page, "complete");
  assert.deepEqual(await stepsHtml(page), referenceHtml);
  assert.deepEqual(problems, []);
  await context.close();
});

test("a reload mid-lesson reconnects and the lesson continues where it was", async () => {
  const { context, page, problems } = await newStudent(browser, "recarga@example.com");
  await startLesson(page);
  await page.reload();
  // The session is resumed: everything shown so far is replayed, then the rest streams.
  await lesson(page).waitFor();
  await waitForStatus(page, "complete");
  assert.deepEqual(await stepsHtml(page), referenceHtml);
  assert.ok((await inkOnBoard(page)) > 50, "the board is drawn again");
  await page.screenshot({ path: path.join(ARTIFACTS, "after-reload.png"), fullPage: true });
  assert.deepEqual(problems, []);
  await context.close();
});

test("a follow-up interrupts the lesson, which then continues at the same place", async () => {
  const { context, page, problems } = await newStudent(browser, "duda@example.com");
  await startLesson(page);
  await ask(page, FOLLOW_UP); // while the lesson is on, the box asks a follow-up
  await page.locator('section.lesson[data-kind="interruption"]').waitFor();
  await page.getByText("Respuesta a tu duda").waitFor();
  await page.getByRole("button", { name: "Continuar la lección" }).waitFor({ timeout: LESSON_MS });
  await page.screenshot({ path: path.join(ARTIFACTS, "follow-up.png"), fullPage: true });
  await page.getByRole("button", { name: "Continuar la lección" }).click();
  await waitForStatus(page, "complete");
  assert.deepEqual(await stepsHtml(page), referenceHtml);
  assert.deepEqual(problems, []);
  await context.close();
});

test("the exam bank: leaving the lesson pauses it; filter, answer, progress, a new lesson from a question", async () => {
  const { context, page, problems } = await newStudent(browser, "banco@example.com");
  await startLesson(page);
  const firstTitle = await page.locator(".step h3").first().textContent();
  await page.getByRole("button", { name: "Banco de preguntas" }).click();
  await page.getByRole("button", { name: "Lección" }).click();
  await waitForStatus(page, "paused"); // it waited while the student was away
  await page.getByRole("button", { name: "Banco de preguntas" }).click();

  await page.locator(".question").first().waitFor();
  await page.getByLabel("Materia").selectOption("algebra");
  await page.locator(".question .meta", { hasText: "Cálculo" }).first().waitFor({ state: "detached" });
  const first = page.locator(".question").first();
  assert.match(await first.locator(".meta").textContent(), /Álgebra/);
  await first.locator(".option input").first().check();
  await first.getByRole("button", { name: "Responder" }).click();
  await first.locator("p.right, p.wrong").waitFor();
  await page.getByRole("button", { name: "Progreso" }).click();
  await page.locator(".progress").getByText("Álgebra").waitFor();
  await page.screenshot({ path: path.join(ARTIFACTS, "progress.png"), fullPage: true });

  // A bank question's explanation is a lesson of its own, not a follow-up of the paused one.
  await page.getByRole("button", { name: "Banco de preguntas" }).click();
  await page.getByLabel("Materia").selectOption("");
  await page.getByLabel("Buscar").fill("hexágono");
  await page.getByRole("button", { name: "Filtrar" }).click();
  const hexagon = page.locator(".question", { hasText: "hexágono regular" }).first();
  await hexagon.getByRole("button", { name: "Ver explicación en la pizarra" }).click();
  await page.locator('section.lesson[data-kind="lesson"] .step h3').first().filter({ hasNotText: firstTitle }).waitFor();
  await waitForStatus(page, "complete");
  assert.deepEqual(problems, []);
  await context.close();
});

test("a question with no answer and no AI says so in Spanish and offers similar ones", async () => {
  const { context, page } = await newStudent(browser, "error@example.com");
  await ask(page, "¿Cómo se resuelve una ecuación de segundo grado completa?");
  const notice = page.locator(".notice[data-code]");
  await notice.waitFor();
  assert.equal(await notice.getAttribute("data-code"), "AI_UNAVAILABLE");
  // One of the similar questions that do have a lesson is asked with a click.
  await notice.getByRole("button", { name: QUESTION }).click();
  await waitForStatus(page, "streaming");
  await page.screenshot({ path: path.join(ARTIFACTS, "similar-question.png"), fullPage: true });
  await context.close();
});
