"""A report page opened in a real headless Chromium (Debian's chromium + chromedriver,
driven by Selenium): what it logged to the console, how long it took to load and paint,
which figures it drew with how many marks, and a screenshot. tests/test_report.py checks
pages with it; bench/report_page.py times them."""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMEDRIVER = ("/usr/bin/chromedriver",)

# Per figure: each of our marks (an SVG group whose id we gave), counted three ways:
# <use> (marker points), <path> elements (bars, segments), and path vertices (M/L).
_COUNT = """
const out = {};
for (const sec of document.querySelectorAll('section.plot')) {
  const svg = sec.querySelector('svg');
  const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  const marks = {};
  if (svg) {
    for (const g of svg.querySelectorAll('g[id]')) {
      if (!/^(frames|bits|setting|walk|rungs|rq)-/.test(g.id)) continue;
      // Marker shapes live in <defs>: they are not marks.
      const paths = [...g.querySelectorAll('path')].filter(p => !p.closest('defs'));
      let vertices = 0;
      for (const p of paths) {
        vertices += ((p.getAttribute('d') || '').match(/[ML]/g) || []).length;
      }
      marks[g.id] = {uses: g.querySelectorAll('use').length, paths: paths.length,
                     vertices: vertices};
    }
  }
  out[sec.id] = {width: box.width, height: box.height, marks: marks};
}
return out;
"""

_LOADED = "return performance.getEntriesByType('navigation')[0].loadEventEnd;"

# Resolves after two animation frames: the page has been laid out and painted.
_PAINTED = """
const done = arguments[arguments.length - 1];
requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now())));
"""


def find_chromium() -> tuple[str, str] | None:
    """(chromium, chromedriver) when both are installed, else None."""
    browser = next((p for p in CHROMIUM if Path(p).exists()), None) or shutil.which("chromium")
    driver = next((p for p in CHROMEDRIVER if Path(p).exists()), None) or shutil.which(
        "chromedriver"
    )
    return (browser, driver) if browser and driver else None


@dataclass(frozen=True)
class PageView:
    console: list[dict[str, Any]]  # every console entry (level, message)
    load_ms: float  # navigation start → load event end
    painted_ms: float  # navigation start → two frames after the load (laid out, painted)
    wall_s: float  # driver.get() until painted, as a user waits for it
    figures: dict[str, dict[str, Any]]  # section id → width, height, marks
    screenshot: bytes  # PNG of the first screen

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [e for e in self.console if e.get("level") in ("SEVERE", "ERROR")]


@contextlib.contextmanager
def chromium(width: int = 1280, height: int = 900) -> Iterator[Any]:
    """A headless Chromium, sandbox and GPU off (root, no display), nothing fetched in
    the background, its profile in a temporary folder."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    found = find_chromium()
    if found is None:
        raise RuntimeError("chromium and chromedriver are not installed")
    with tempfile.TemporaryDirectory(prefix="vmaftune-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = found[0]
        for flag in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-default-apps",
            "--disable-sync",
            "--no-first-run",
            "--disable-extensions",
            "--metrics-recording-only",
            "--hide-scrollbars",
            f"--window-size={width},{height}",
            f"--user-data-dir={profile}",
        ):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(options=options, service=Service(found[1]))
        try:
            driver.set_page_load_timeout(60)
            driver.set_script_timeout(60)
            yield driver
        finally:
            driver.quit()


def view(driver: Any, page: Path) -> PageView:
    started = time.perf_counter()
    driver.get(page.resolve().as_uri())
    painted = float(driver.execute_async_script(_PAINTED))
    wall = time.perf_counter() - started
    load = float(driver.execute_script(_LOADED))
    figures = driver.execute_script(_COUNT)
    shot = driver.get_screenshot_as_png()
    console = driver.get_log("browser")
    return PageView(console, load, painted, wall, figures, shot)


def full_screenshot(driver: Any, path: Path, width: int = 1280, max_height: int = 6000) -> None:
    """The whole page (up to max_height pixels) as one PNG."""
    height = int(driver.execute_script("return document.documentElement.scrollHeight;"))
    driver.set_window_size(width, min(height, max_height) + 100)
    path.write_bytes(driver.get_screenshot_as_png())


def blank(png: bytes) -> bool:
    """True when a screenshot is (nearly) one colour: nothing was drawn."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("L")
    histogram = image.histogram()
    return max(histogram) > 0.985 * sum(histogram)
