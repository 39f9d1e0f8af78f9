"""``proxylab deck``: the Lessons page's scenes as slides, one PNG per scene at 1280×720 in presenter mode (no
controls), for a lecture without a live dashboard or for a slide deck.

It starts the dashboard on a free local port over the store, opens every scene in headless Chromium (driven by
Playwright: ``pip install 'proxylab[deck]'``, and a Chromium on the machine), waits until the scene has drawn, takes
the picture and stops the server. The embedding scenes are shown at their final snapshot.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

#: Chromium executables looked for on PATH when neither --browser nor $PROXYLAB_CHROMIUM names one
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: what a scene has drawn: the embedding player's canvas or a Plotly chart
DRAWN = ".pxl-player canvas, .js-plotly-plot .main-svg"
SETTLE_MS = 1500  # after the first draw: the player's step transition, Plotly's layout, web fonts


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``deck`` sub-command to ``subparsers``; returns its parser (``cli.py`` adds ``--store``)."""
    p = subparsers.add_parser("deck", help="export the Lessons page's scenes as slides (one PNG per scene)",
                              description=__doc__.splitlines()[0])
    p.add_argument("--out", default="deck", help="output folder (default: ./deck); existing slides are replaced")
    p.add_argument("--width", type=int, default=1280, help="slide width in pixels (default 1280)")
    p.add_argument("--height", type=int, default=720, help="slide height in pixels (default 720)")
    p.add_argument("--browser", help="Chromium executable (default: $PROXYLAB_CHROMIUM, else chromium or "
                   "google-chrome on PATH)")
    return p


def run(a: argparse.Namespace) -> int:
    from .cli import store_dir

    out = Path(a.out)
    slides = export_deck(store_dir(a.store), out, width=a.width, height=a.height, browser=a.browser)
    print(f"wrote {len(slides)} slides to {out}: {', '.join(s.name for s in slides)}")
    return 0


def export_deck(store: Path, out: Path, *, width: int = 1280, height: int = 720,
                browser: str | None = None) -> list[Path]:
    """Write ``NN-<scene>.png`` for every scene of the Lessons page into `out`; return their paths.

    Raises ValueError before starting anything when the store lacks the teaching runs a scene needs, the size is
    out of range, or Playwright or a Chromium is missing; RuntimeError when the dashboard does not start or a
    scene shows an error.
    """
    from .lessons import SCENES

    for name, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, int) or not 320 <= value <= 7680:
            raise ValueError(f"{name} must be an integer in 320-7680, got {value!r}")
    _check_teaching_runs(Path(store), SCENES)
    executable = _chromium(browser)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise ValueError("the deck export drives Chromium with Playwright: pip install 'proxylab[deck]'") from None
    from tqdm.auto import tqdm

    from .serve import start_dashboard

    out.mkdir(parents=True, exist_ok=True)
    slides = []
    with tempfile.TemporaryFile() as log:
        proc, url = start_dashboard(Path(store), log)
        try:
            with sync_playwright() as p:
                args = ["--headless=new", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]
                if hasattr(os, "geteuid") and os.geteuid() == 0:
                    args.append("--no-sandbox")  # Chromium refuses to run its sandbox as root
                chromium = p.chromium.launch(executable_path=executable, args=args)
                tab = chromium.new_page(viewport={"width": width, "height": height})
                for number, scene in enumerate(tqdm(SCENES, desc="slides", unit="scene", file=sys.stderr), start=1):
                    tab.goto(f"{url}/?scene={scene.key}&present=1&controls=0")
                    tab.wait_for_selector(DRAWN, timeout=120_000)
                    tab.wait_for_timeout(SETTLE_MS)
                    if tab.locator("[data-testid='stException']").count():
                        raise RuntimeError(f"scene {scene.key!r} shows an error; open it in the dashboard to see it")
                    slide = out / f"{number:02d}-{scene.key}.png"
                    tab.screenshot(path=str(slide))
                    slides.append(slide)
                chromium.close()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return slides


def _check_teaching_runs(store: Path, scenes) -> None:
    from .store import list_runs

    if not store.is_dir():
        raise ValueError(f"store {str(store)!r} is not a directory; train the teaching runs with `proxylab demo`")
    tags = {tag for run in list_runs(store) if run.ok for tag in run.meta.get("tags") or () if isinstance(tag, str)}
    missing = [scene.key for scene in scenes if not set(scene.tags) <= tags]
    if missing:
        raise ValueError(f"store {str(store)!r} lacks the teaching runs of scenes {', '.join(missing)}; train them "
                         "with `proxylab demo --no-dashboard --store ...`")


def _chromium(browser: str | None) -> str:
    wanted = browser or os.environ.get("PROXYLAB_CHROMIUM")
    if wanted:
        found = shutil.which(wanted) or (wanted if Path(wanted).is_file() else None)
        if not found:
            raise ValueError(f"Chromium executable {wanted!r} not found")
        return found
    for name in BROWSERS:
        if found := shutil.which(name):
            return found
    raise ValueError(f"no Chromium found on PATH (looked for {', '.join(BROWSERS)}); install one (e.g. apt-get "
                     "install chromium) or pass --browser")
