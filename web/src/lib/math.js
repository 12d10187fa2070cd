// Lesson text with inline LaTeX (`$...$`) and display LaTeX (`$$...$$`), split into what is
// shown as text and what KaTeX renders. A span is rendered only once it is complete: while its
// closing `$` has not arrived, it is held back rather than shown as raw LaTeX.

import katex from "katex";

// -> [{kind: "text", text} | {kind: "math", latex, display}]; `\$` is a literal dollar sign.
// In a `complete` text a `$` that never closes is a plain dollar sign ("cuesta $20").
export function splitMath(text, { complete = false } = {}) {
  const parts = [];
  let plain = "";
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch === "\\" && text[i + 1] === "$") {
      plain += "$";
      i += 2;
      continue;
    }
    if (ch !== "$") {
      plain += ch;
      i += 1;
      continue;
    }
    const display = text[i + 1] === "$";
    const open = display ? 2 : 1;
    const end = findClose(text, i + open, display);
    if (end < 0) {
      if (!complete) break; // incomplete span: wait for the rest
      plain += ch;
      i += 1;
      continue;
    }
    if (plain) parts.push({ kind: "text", text: plain });
    plain = "";
    parts.push({ kind: "math", latex: text.slice(i + open, end), display });
    i = end + open;
  }
  if (plain) parts.push({ kind: "text", text: plain });
  return parts;
}

function findClose(text, from, display) {
  for (let j = from; j < text.length; j++) {
    if (text[j] === "\\") {
      j += 1; // an escaped character, `\$` included, never closes
      continue;
    }
    if (text[j] !== "$") continue;
    if (!display) return j;
    if (text[j + 1] === "$") return j;
  }
  return -1;
}

const cache = new Map();

// KaTeX's HTML for one span; LaTeX it cannot parse is shown as its source, in red, never thrown.
export function renderMath(latex, display = false) {
  const key = `${display ? "D" : "I"}${latex}`;
  let html = cache.get(key);
  if (html === undefined) {
    html = katex.renderToString(latex, { displayMode: display, throwOnError: false, output: "htmlAndMathml", strict: "ignore", trust: false, maxSize: 20, maxExpand: 200 });
    if (cache.size > 500) cache.clear();
    cache.set(key, html);
  }
  return html;
}

export function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

// The whole text as safe HTML: text escaped (line breaks kept), complete math rendered.
export function lessonHtml(text, { complete = false } = {}) {
  return splitMath(text, { complete })
    .map((part) => (part.kind === "text" ? escapeHtml(part.text).replace(/\n/g, "<br>") : renderMath(part.latex, part.display)))
    .join("");
}
