#!/usr/bin/env node
// Render math fragments with KaTeX, as a browser would; report every one that fails.
//
// stdin:  JSON array of {"tex": "...", "display": true|false, "where": "..."}
// stdout: JSON {"katex": VERSION, "rendered": N, "failures": [{"where", "tex", "error"}]}
// Used by tests/test_report.py; install with `npm ci --prefix tests/js`.
"use strict";

const katex = require("katex");

function main(input) {
  const fragments = JSON.parse(input);
  const failures = [];
  for (const fragment of fragments) {
    try {
      katex.renderToString(fragment.tex, {
        displayMode: Boolean(fragment.display),
        throwOnError: true,
        strict: "error",
        trust: false,
      });
    } catch (err) {
      failures.push({ where: fragment.where, tex: fragment.tex, error: String(err.message || err) });
    }
  }
  process.stdout.write(JSON.stringify({ katex: katex.version, rendered: fragments.length, failures }));
}

let data = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { data += chunk; });
process.stdin.on("end", () => main(data));
