// Questions by voice in a real browser, both ways the page has:
//
// - The browser's Web Speech API. Chromium's recognizer is a network service this machine cannot
//   reach, so the page gets a stand-in recognizer (addInitScript) that hears a set sentence, as
//   the fake OpenAI server stands in for OpenAI. Everything after it is the real page and server.
// - A browser without the API (as Firefox): Chromium's fake microphone plays FAKE_MIC (real
//   Spanish speech), the real MediaRecorder records WebM/Opus, the page sends it in pieces, the
//   server reads it and has it transcribed by the fake OpenAI server (which says TRANSCRIPT).
//
//   PIZARRA_URL=... FAKE_MIC=tests/fixtures/voice/pregunta.wav node --test e2e/voice.e2e.js

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { LESSON_MS, QUESTION, launch, newStudent, ask, waitForStatus } from "./student.js";

const ARTIFACTS = process.env.ARTIFACTS ?? path.resolve("../test-artifacts/web");
const FAKE_MIC = process.env.FAKE_MIC;
const browsers = [];

after(async () => {
  await Promise.all(browsers.map((b) => b.close()));
});

// A recognizer that hears `window.__heard.shift()` with confidence 0.55 (so the student is
// asked to confirm), as the Web Speech API reports a final result.
const SPEECH_STAND_IN = () => {
  window.__heard = ["como se resuelve una ecuacion de segundo grado", "perdón, nada"];
  class StandInRecognition {
    start() {
      setTimeout(() => {
        this.onresult?.({ results: [[{ transcript: window.__heard.shift(), confidence: 0.55 }]] });
        this.onend?.();
      }, 400);
    }
    stop() {}
    abort() {}
  }
  window.SpeechRecognition = StandInRecognition;
  window.webkitSpeechRecognition = StandInRecognition;
};

test("Web Speech: the transcript is confirmed, corrected, and asked as a voice question", async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const browser = await launch();
  browsers.push(browser);
  const { context, page, problems } = await newStudent(browser, "voz@example.com", { initScript: SPEECH_STAND_IN });
  await page.getByRole("button", { name: "Hablar", exact: true }).click();
  const confirm = page.getByLabel("¿Es esto lo que preguntaste? Puedes corregirlo:");
  await confirm.waitFor();
  assert.equal(await confirm.inputValue(), "como se resuelve una ecuacion de segundo grado");
  await page.screenshot({ path: path.join(ARTIFACTS, "voice-confirm.png"), fullPage: true });
  await confirm.fill(QUESTION); // the student corrects it
  await page.getByRole("button", { name: "Sí, preguntar" }).click();
  await waitForStatus(page, "streaming");

  // Speaking during the lesson pauses it; cancelling lets it go on where it was.
  await page.waitForFunction(() => document.querySelectorAll(".step").length >= 2);
  await page.getByRole("button", { name: "Hablar", exact: true }).click();
  await waitForStatus(page, "paused");
  await confirm.waitFor();
  await page.getByRole("button", { name: "Cancelar" }).click();
  await waitForStatus(page, "streaming");
  await waitForStatus(page, "complete", LESSON_MS);
  assert.deepEqual(problems, []);
  await context.close();
});

test("recorded audio: sent in pieces as it records, transcribed by the server, confirmed", { skip: !FAKE_MIC && "FAKE_MIC is not set" }, async () => {
  const browser = await launch(["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream", `--use-file-for-fake-audio-capture=${FAKE_MIC}`]);
  browsers.push(browser);
  const noSpeechApi = () => {
    delete window.SpeechRecognition;
    delete window.webkitSpeechRecognition;
  };
  const { context, page, problems, sent } = await newStudent(browser, "grabacion@example.com", { initScript: noSpeechApi, permissions: ["microphone"] });
  const listening = page.getByRole("button", { name: "Escuchando… toca para terminar" });
  const speakFor = async (ms) => {
    await listening.waitFor();
    await page.waitForTimeout(ms);
    await listening.click();
  };
  await page.getByRole("button", { name: "Hablar", exact: true }).click();
  // The first time the server hears nothing (the fake says so): the student records again,
  // without starting over, and the second recording is heard.
  await speakFor(2500);
  await page.locator('.notice[data-code="INVALID_INPUT"]', { hasText: "No te escuchamos" }).waitFor({ timeout: 20_000 });
  await page.getByRole("button", { name: "Grabar de nuevo" }).click();
  await speakFor(3500);
  const confirm = page.getByLabel("¿Es esto lo que preguntaste? Puedes corregirlo:");
  await confirm.waitFor({ timeout: 20_000 });
  assert.equal(await confirm.inputValue(), process.env.TRANSCRIPT ?? QUESTION);
  const pieces = sent.filter((name) => name === "voice_chunk").length;
  assert.ok(pieces >= 5, `the recordings went in pieces as they were made (${pieces})`);
  await page.getByRole("button", { name: "Sí, preguntar" }).click();
  await waitForStatus(page, "complete", LESSON_MS);
  await page.screenshot({ path: path.join(ARTIFACTS, "voice-recorded.png"), fullPage: true });
  assert.deepEqual(problems, []);
  await context.close();
});

test("the page's refusals: a question too short by voice is refused with a Spanish message", async () => {
  const browser = await launch();
  browsers.push(browser);
  const { context, page } = await newStudent(browser, "corta@example.com", { initScript: SPEECH_STAND_IN });
  await ask(page, "?");
  const notice = page.locator(".notice[data-code]");
  await notice.waitFor();
  assert.equal(await notice.getAttribute("data-code"), "INVALID_INPUT");
  await context.close();
});
