"""
Look at the built HTML pages as a reader on a laptop would: load each page
in headless Chromium at 1280 pixels wide and report what does not fit.

- a code block whose lines need horizontal scrolling;
- a page wider than the window;
- a word of the sidebar's title broken across two lines.

Usage::

    python docs/check_pages.py [BUILD_DIR] [--width 1280] [--only GLOB] [--screenshots DIR]

BUILD_DIR is the HTML build (by default docs/_build/html, as made by
``sphinx-build -b html docs docs/_build/html``).  Exits 0 when every page
fits, 1 with one line per problem otherwise, and 0 with a message saying
the check was skipped when no Chromium is installed (Debian:
``apt-get install chromium``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

#: The browsers tried, in order.
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")

#: The marker of the element the check script adds to the page with its findings.
MARKER = "page-check-findings"

#: Run in the page once it has loaded: measures, then writes its findings
#: as JSON into a new element that ``--dump-dom`` shows.
CHECK_SCRIPT = """
<script>
window.addEventListener("load", () => {
  const found = [];
  const first = (text) => text.trim().split("\\n")[0].slice(0, 70);
  document.querySelectorAll("pre").forEach((pre) => {
    for (let box = pre; box && box !== document.body; box = box.parentElement) {
      if (box.scrollWidth > box.clientWidth + 1 && getComputedStyle(box).overflowX !== "visible") {
        found.push("code block scrolls sideways (" + (box.scrollWidth - box.clientWidth)
                   + " px hidden): " + first(pre.textContent));
        break;
      }
    }
  });
  const page = document.documentElement;
  if (page.scrollWidth > window.innerWidth + 1) {
    found.push("page is " + page.scrollWidth + " px wide in a " + window.innerWidth + " px window");
  }
  document.querySelectorAll(".sidebar-brand-text").forEach((title) => {
    const walker = document.createTreeWalker(title, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const text = node.textContent;
      const words = /\\S+/g;
      for (let match = words.exec(text); match; match = words.exec(text)) {
        const range = document.createRange();
        range.setStart(node, match.index);
        range.setEnd(node, match.index + match[0].length);
        const tops = new Set(Array.from(range.getClientRects(), (rect) => Math.round(rect.top)));
        if (tops.size > 1) {
          found.push("sidebar title breaks the word " + JSON.stringify(match[0]));
        }
      }
    }
  });
  const out = document.createElement("pre");
  out.id = "MARKER";
  out.textContent = JSON.stringify(found);
  document.body.appendChild(out);
});
</script>
""".replace("MARKER", MARKER)


def find_browser() -> str | None:
    """
    The path of an installed Chromium, or None.
    """
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def browser_command(browser: str, width: int) -> list[str]:
    """
    The headless browser's command line, without the page.
    """
    return [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--window-size={width},900",
        "--virtual-time-budget=1000",
    ]


def check_page(browser: str, page: Path, width: int) -> list[str]:
    """
    The problems of one built page at ``width`` pixels.
    """
    html = page.read_text(encoding="utf-8")
    if "</body>" not in html:
        return []
    # A copy beside the page, so that its relative links to styles still work.
    handle, copy_name = tempfile.mkstemp(suffix=".html", prefix=".check-", dir=page.parent)
    os.close(handle)
    copy = Path(copy_name)
    try:
        copy.write_text(html.replace("</body>", CHECK_SCRIPT + "</body>"), encoding="utf-8")
        command = [*browser_command(browser, width), "--dump-dom", copy.as_uri()]
        completed = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    finally:
        copy.unlink()
    start = completed.stdout.find(f'<pre id="{MARKER}">')
    if start < 0:
        return [f"the check did not run (browser exit status {completed.returncode})"]
    start = completed.stdout.index(">", start) + 1
    end = completed.stdout.index("</pre>", start)
    findings = completed.stdout[start:end].replace("&quot;", '"').replace("&amp;", "&")
    findings = findings.replace("&lt;", "<").replace("&gt;", ">")
    return list(json.loads(findings))


def screenshot(browser: str, page: Path, width: int, directory: Path, root: Path) -> Path:
    """
    A PNG of the top of ``page`` at ``width`` pixels, in ``directory``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / (page.relative_to(root).as_posix().replace("/", "-")[: -len(".html")] + ".png")
    command = [*browser_command(browser, width), f"--screenshot={target}", page.as_uri()]
    subprocess.run(command, capture_output=True, timeout=120, check=False)
    return target


def pages_of(root: Path) -> list[Path]:
    """
    The built pages worth a reader's look: not Sphinx's search and index
    machinery, nor the sources of the modules.
    """
    skipped = {"search.html", "genindex.html", "py-modindex.html"}
    return sorted(
        page
        for page in root.rglob("*.html")
        if page.name not in skipped and "_modules" not in page.parts and "_sources" not in page.parts
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("build", nargs="?", type=Path, default=Path(__file__).parent / "_build" / "html")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--screenshots", type=Path, help="also save a PNG of each page here")
    parser.add_argument(
        "--only", metavar="GLOB", help="only the pages matching GLOB (index.html, reference/*)"
    )
    arguments = parser.parse_args(argv)
    browser = find_browser()
    if browser is None:
        print("check_pages: skipped: no Chromium found (install it: apt-get install chromium)")
        return 0
    root = arguments.build.resolve()
    pages = [
        page for page in pages_of(root) if not arguments.only or page.relative_to(root).match(arguments.only)
    ]
    if not pages:
        print(f"check_pages: no HTML pages under {root}: build them first", file=sys.stderr)
        return 2
    problems = 0
    for page in pages:
        for finding in check_page(browser, page, arguments.width):
            print(f"{page.relative_to(root)}: {finding}")
            problems += 1
        if arguments.screenshots:
            screenshot(browser, page, arguments.width, arguments.screenshots, root)
    print(f"check_pages: {len(pages)} pages at {arguments.width} px, {problems} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
