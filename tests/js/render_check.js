#!/usr/bin/env node
// Open a derivcheck HTML report in headless Chromium, as a reader would, and report what broke.
//
// usage: node render_check.js REPORT.html CHROMIUM [SCREENSHOT.png [ELEMENT_ID]]
// stdout: JSON {"displays", "inlines", "diagrams", "katex_errors": [...], "mermaid_errors": [...],
//               "broken_images": [...], "images", "narrow_diagrams": [{"index", "ratio", "text"}],
//               "min_ratio"}
// A diagram's ratio is its drawn width over its natural width (the width mermaid laid it out at);
// below 1 it was scaled down to fit the column. Used by tests/report/test_browser.py.
"use strict";

const path = require("path");
const puppeteer = require("puppeteer-core");

async function main() {
  const [page_path, chromium, screenshot, element] = process.argv.slice(2);
  const browser = await puppeteer.launch({
    executablePath: chromium,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--allow-file-access-from-files", "--disable-dev-shm-usage"],
  });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1000, height: 900 });
    const failed = [];
    page.on("requestfailed", (r) => failed.push(r.url()));
    await page.goto("file://" + path.resolve(page_path), { waitUntil: "load", timeout: 120000 });
    await page.waitForFunction("window.derivcheckRendered !== undefined", { timeout: 900000, polling: 500 });
    const result = await page.evaluate(() => {
      const r = window.derivcheckRendered;
      const images = Array.from(document.querySelectorAll("img"));
      const broken = images.filter((img) => !img.complete || img.naturalWidth === 0).map((img) => img.getAttribute("src"));
      const narrow = [];
      let min_ratio = 1;
      Array.from(document.querySelectorAll(".mermaid svg")).forEach((svg, index) => {
        const natural = svg.viewBox && svg.viewBox.baseVal ? svg.viewBox.baseVal.width : 0;
        const drawn = svg.getBoundingClientRect().width;
        if (!natural) return;
        const ratio = drawn / natural;
        min_ratio = Math.min(min_ratio, ratio);
        if (ratio < 0.6) {
          const heads = Array.from(document.querySelectorAll("h2"))
            .filter((h) => h.compareDocumentPosition(svg) & Node.DOCUMENT_POSITION_FOLLOWING);
          const section = heads.length ? heads[heads.length - 1].textContent : "";
          narrow.push({ index, ratio, section, natural_width: natural });
        }
      });
      const error_svgs = Array.from(document.querySelectorAll(".mermaid svg"))
        .filter((svg) => svg.querySelector(".error-icon") || /Syntax error/.test(svg.textContent)).length;
      return {
        displays: r.displays, inlines: r.inlines, diagrams: r.diagrams,
        katex_errors: r.errors.katex.concat(document.querySelectorAll(".katex-error").length > r.errors.katex.length
          ? ["elements with class katex-error"] : []),
        mermaid_errors: r.errors.mermaid.concat(error_svgs ? [error_svgs + " diagram(s) drawn as errors"] : []),
        rendered_katex: document.querySelectorAll(".katex").length,
        rendered_svgs: document.querySelectorAll(".mermaid svg").length,
        images: images.length, broken_images: broken, narrow_diagrams: narrow, min_ratio,
      };
    });
    result.failed_requests = failed;
    if (screenshot) {
      if (element) {
        const handle = await page.$("#" + element);
        const y = handle ? await page.evaluate((e) => e.getBoundingClientRect().top + window.scrollY, handle) : 0;
        await page.screenshot({ path: screenshot, clip: { x: 0, y, width: 1000, height: 2600 }, captureBeyondViewport: true });
      } else {
        await page.screenshot({ path: screenshot, fullPage: true });
      }
    }
    process.stdout.write(JSON.stringify(result));
  } finally {
    await browser.close();
  }
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack || err) + "\n");
  process.exit(1);
});
