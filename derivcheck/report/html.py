"""The report as one HTML page that renders offline: KaTeX, mermaid and markdown-it beside it.

The page holds the report's markdown and renders it in the browser the way GitHub does: markdown
(HTML allowed, for ``<details>``), ```` ```math ```` fences and ``$`...`$`` inline math with KaTeX,
```` ```mermaid ```` fences with mermaid. The three libraries are copied from npm packages
installed on this machine (``npm install --prefix tests/js``, or a folder named by
``DERIVCHECK_NODE_MODULES``) into the assets folder; nothing is fetched from the network, at
report time or when the page is opened.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

#: what the page needs from each npm package, relative to ``node_modules``
FILES = {
    "katex/dist/katex.min.js": "katex.min.js",
    "katex/dist/katex.min.css": "katex.min.css",
    "mermaid/dist/mermaid.min.js": "mermaid.min.js",
    "markdown-it/dist/browser/markdown-it.umd.min.js": "markdown-it.min.js",
}
FONTS = "katex/dist/fonts"
#: the column width GitHub gives a markdown file
COLUMN_PX = 830


class AssetsMissing(RuntimeError):
    """The npm packages the page needs are not installed."""


def node_modules() -> Path:
    """The ``node_modules`` folder holding katex, mermaid and markdown-it, or AssetsMissing."""
    candidates = []
    if os.environ.get("DERIVCHECK_NODE_MODULES"):
        candidates.append(Path(os.environ["DERIVCHECK_NODE_MODULES"]))
    candidates += [Path.cwd() / "node_modules", Path.cwd() / "tests" / "js" / "node_modules",
                   Path(__file__).resolve().parents[2] / "tests" / "js" / "node_modules"]
    for folder in candidates:
        if all((folder / f).is_file() for f in FILES) and (folder / FONTS).is_dir():
            return folder
    raise AssetsMissing(
        "the HTML report needs KaTeX, mermaid and markdown-it from npm (nothing is downloaded at report "
        "time): run `npm ci --prefix tests/js` in derivcheck's source tree, or set DERIVCHECK_NODE_MODULES "
        "to a node_modules folder that has them"
    )


def copy_assets(assets: Path, modules: Path) -> Path:
    """Copy the libraries into ``assets/js``; return that folder."""
    target = assets / "js"
    target.mkdir(parents=True, exist_ok=True)
    for source, name in FILES.items():
        shutil.copyfile(modules / source, target / name)
    fonts = target / "fonts"
    if fonts.exists():
        shutil.rmtree(fonts)
    shutil.copytree(modules / FONTS, fonts)
    return target


def html_page(markdown: str, js_base: str, title: str = "derivcheck report") -> str:
    """The page: the markdown as JSON data, the libraries linked from ``js_base``, the renderer."""
    data = json.dumps(markdown).replace("</", "<\\/")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="{js_base}/katex.min.css">
<style>
body {{ margin: 0; font: 16px/1.5 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1f2328; }}
main {{ box-sizing: border-box; max-width: {COLUMN_PX + 32}px; margin: 0 auto; padding: 16px; }}
table {{ border-collapse: collapse; display: block; overflow-x: auto; }}
th, td {{ border: 1px solid #d0d7de; padding: 4px 8px; }}
pre {{ background: #f6f8fa; padding: 12px; overflow-x: auto; }}
code {{ background: #eff1f3; padding: 0 3px; border-radius: 4px; }}
.math-display {{ overflow-x: auto; overflow-y: hidden; margin: 12px 0; }}
.mermaid {{ overflow-x: auto; margin: 12px 0; }}
img {{ max-width: 100%; }}
</style>
<script src="{js_base}/katex.min.js"></script>
<script src="{js_base}/markdown-it.min.js"></script>
<script src="{js_base}/mermaid.min.js"></script>
</head>
<body>
<main id="report"></main>
<script id="report-markdown" type="application/json">{data}</script>
<script>
{RENDERER}
</script>
</body>
</html>
"""


#: renders the markdown as GitHub does; sets window.derivcheckRendered to a summary when done
RENDERER = r"""
(async function () {
  const source = JSON.parse(document.getElementById("report-markdown").textContent);
  const md = window.markdownit({ html: true, linkify: false });
  const main = document.getElementById("report");
  main.innerHTML = md.render(source);
  for (const h of Array.from(main.querySelectorAll("h1, h2, h3, h4"))) {
    h.id = h.textContent.trim().toLowerCase().replace(/[^a-z0-9 _-]/g, "").replace(/ /g, "-");
  }
  const errors = { katex: [], mermaid: [] };
  let displays = 0, inlines = 0;
  function tex(code, display) {
    const span = document.createElement(display ? "div" : "span");
    if (display) span.className = "math-display";
    try {
      katex.render(code, span, { displayMode: display, throwOnError: true, strict: "error" });
    } catch (err) {
      errors.katex.push(String(err.message || err) + " in " + code.slice(0, 200));
      span.className += " katex-error";
      span.textContent = code;
    }
    return span;
  }
  for (const block of Array.from(main.querySelectorAll("pre > code.language-math"))) {
    block.parentElement.replaceWith(tex(block.textContent.replace(/\n$/, ""), true));
    displays += 1;
  }
  for (const code of Array.from(main.querySelectorAll("code"))) {
    const before = code.previousSibling, after = code.nextSibling;
    if (before && after && before.nodeType === 3 && after.nodeType === 3 &&
        before.textContent.endsWith("$") && after.textContent.startsWith("$")) {
      before.textContent = before.textContent.slice(0, -1);
      after.textContent = after.textContent.slice(1);
      code.replaceWith(tex(code.textContent, false));
      inlines += 1;
    }
  }
  const diagrams = [];
  for (const block of Array.from(main.querySelectorAll("pre > code.language-mermaid"))) {
    const div = document.createElement("div");
    div.className = "mermaid";
    div.textContent = block.textContent;
    block.parentElement.replaceWith(div);
    diagrams.push(div);
  }
  mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: "default" });
  for (const div of diagrams) {
    try {
      await mermaid.run({ nodes: [div] });
    } catch (err) {
      errors.mermaid.push(String(err.message || err).slice(0, 300));
    }
  }
  window.derivcheckRendered = { displays, inlines, diagrams: diagrams.length, errors };
})();
"""


def write_html(markdown: str, out_path: Path, assets: Path) -> Path:
    """Write the page for ``markdown`` to ``out_path``, the libraries into ``assets/js``.

    Raises AssetsMissing (one line, saying what to install) when the npm packages are absent.
    """
    modules = node_modules()
    copy_assets(assets, modules)
    out_path.write_text(html_page(markdown, f"{assets.name}/js"), encoding="utf-8")
    return out_path


__all__ = ["AssetsMissing", "COLUMN_PX", "copy_assets", "html_page", "node_modules", "write_html"]
