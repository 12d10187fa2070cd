import { describe, it, expect } from "vitest";
import { MESSAGES, friendlyError } from "../src/lib/errors.js";

// The contract's codes (ARCHITECTURE.md section 7).
const CODES = ["INVALID_INPUT", "UNAUTHORIZED", "RATE_LIMIT_EXCEEDED", "TOO_MANY_CONNECTIONS", "INSUFFICIENT_CREDITS", "DAILY_LIMIT_REACHED", "AI_UNAVAILABLE", "CONTENT_REFUSED", "NOT_FOUND", "INTERNAL_ERROR"];

describe("friendlyError", () => {
  it.each(CODES)("%s has its own Spanish sentence", (code) => {
    const text = friendlyError({ code });
    expect(text).toBe(MESSAGES[code]);
    expect(text).toMatch(/[.…]$/);
    expect(text).not.toMatch(/error|exception|traceback|null|undefined/i);
  });

  it("every code's sentence is different", () => {
    expect(new Set(CODES.map((code) => friendlyError({ code }))).size).toBe(CODES.length);
  });

  it("shows the server's own words where they say what to do", () => {
    expect(friendlyError({ code: "INVALID_INPUT", message: "La pregunta es demasiado larga." })).toBe("La pregunta es demasiado larga.");
    expect(friendlyError({ code: "INSUFFICIENT_CREDITS", message: "Traceback (most recent call last)" })).toBe(MESSAGES.INSUFFICIENT_CREDITS);
  });

  it("says when to ask again after a rate limit", () => {
    expect(friendlyError({ code: "RATE_LIMIT_EXCEEDED", message: "Demasiadas preguntas.", retry_after: 12.2 })).toBe("Demasiadas preguntas. (puedes volver a preguntar en 13 s)");
  });

  it("an unknown code or no error at all is a generic sentence, never a crash", () => {
    expect(friendlyError({ code: "SOMETHING_NEW" })).toBe(MESSAGES.INTERNAL_ERROR);
    expect(friendlyError(undefined)).toBe(MESSAGES.INTERNAL_ERROR);
    expect(friendlyError({ code: "NETWORK" })).toBe(MESSAGES.NETWORK);
  });
});
