import { describe, it, expect } from "vitest";
import { splitMath, lessonHtml } from "../src/lib/math.js";

describe("splitMath", () => {
  it("splits text, inline and display math", () => {
    expect(splitMath("Si $x=2$ entonces $$x^2=4$$ fin")).toEqual([
      { kind: "text", text: "Si " },
      { kind: "math", latex: "x=2", display: false },
      { kind: "text", text: " entonces " },
      { kind: "math", latex: "x^2=4", display: true },
      { kind: "text", text: " fin" },
    ]);
  });

  it("holds back a span whose closing $ has not arrived yet", () => {
    expect(splitMath("La derivada $f'(x")).toEqual([{ kind: "text", text: "La derivada " }]);
    expect(splitMath("Área $$\\int_0^1")).toEqual([{ kind: "text", text: "Área " }]);
  });

  it("in a complete text, a $ that never closes is a dollar sign, and the rest is shown", () => {
    expect(splitMath("Cuesta $20 el kilo", { complete: true })).toEqual([{ kind: "text", text: "Cuesta $20 el kilo" }]);
    expect(splitMath("Cuesta $20 el kilo")).toEqual([{ kind: "text", text: "Cuesta " }]);
  });

  it("keeps an escaped dollar as text", () => {
    expect(splitMath("Cuesta \\$5 y $x$")).toEqual([
      { kind: "text", text: "Cuesta $5 y " },
      { kind: "math", latex: "x", display: false },
    ]);
  });
});

describe("lessonHtml", () => {
  it("renders complete math with KaTeX and escapes the text", () => {
    const html = lessonHtml("<b>x</b> es $\\frac{1}{2}$");
    expect(html).toContain("&lt;b&gt;x&lt;/b&gt; es ");
    expect(html).toContain('class="katex"');
    expect(html).not.toContain("<b>");
  });

  it("shows LaTeX that does not parse as its source instead of failing", () => {
    expect(() => lessonHtml("mal $\\frac{1}{$")).not.toThrow();
    expect(lessonHtml("mal $\\frac{1}{$")).toContain("katex-error");
  });

  it("never lets LaTeX inject markup", () => {
    const html = lessonHtml("$\\href{javascript:alert(1)}{x}$ $\\htmlId{a}{b}$ <img src=x onerror=alert(1)>");
    expect(html).not.toMatch(/<a\b|href=|<img|id="a"/);
  });
});
