"""A run started from the Runs page's form appears, and its live progress updates, without reloading the page."""
from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from serving import serving

    store = tmp_path_factory.mktemp("live") / "store"
    store.mkdir()
    with serving(store, tmp_path_factory.mktemp("live_log")) as url:
        yield url


def test_a_run_started_from_the_form_shows_up_live_without_a_reload(server):
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    pid = None
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--headless=new", "--disable-gpu"])
        tab = browser.new_page(viewport={"width": 1280, "height": 900})
        try:
            tab.goto(f"{server}/runs")
            tab.get_by_text("Start a new run").wait_for(timeout=60_000)
            tab.get_by_placeholder("e.g. mpa-k4-so0").fill("from-the-form")
            steps = tab.get_by_label("Steps")
            steps.fill("5000")  # long enough to be seen running
            tab.get_by_role("button", name="Start training").click()
            message = tab.get_by_text(re.compile(r"Started .*process \d+"))
            message.wait_for(timeout=30_000)
            pid = int(re.search(r"process (\d+)", message.inner_text()).group(1))
            # no reload: the page follows the store by itself once the trainer writes the run
            tab.get_by_text("Live: from-the-form").wait_for(timeout=90_000)
            first = tab.get_by_text(re.compile(r"step \d+ of 5000")).first.inner_text()
            tab.wait_for_function(
                "t => [...document.querySelectorAll('p, div')].some(e => /step \\d+ of 5000/.test(e.innerText)"
                " && !e.innerText.includes(t))", arg=first, timeout=30_000)  # and its progress moves on
        finally:
            browser.close()
            if pid:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
