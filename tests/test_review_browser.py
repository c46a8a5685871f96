"""The review page in a real browser: Playwright driving Debian's chromium against a real server.

Edit a description, watch the dev accuracy and provenance update, save, reload, check the YAML;
the confusable pairs; try a sentence; a stale second tab refused with its edits kept. A
screenshot is kept in ``build/test-artifacts/review.png`` (``LABELSYNC_TEST_ARTIFACTS`` moves it).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import REPO
from serve_helpers import FIX, ServerThread, write_review_files

from labelsync.serve.app import create_app
from labelsync.serve.config import ServeConfig
from labelsync.serve.review.session import ReviewOptions, ReviewSession

CHROMIUM = os.environ.get("LABELSYNC_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).is_file(),
        reason=f"chromium not found at {CHROMIUM} (apt-get install chromium; `make install` "
        "does it where apt is available)",
    ),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


def artifacts() -> Path:
    folder = Path(os.environ.get("LABELSYNC_TEST_ARTIFACTS", REPO / "build" / "test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def evaluated(page, count: int) -> None:
    """Wait until the page has received its ``count``-th analysis from the server."""
    page.wait_for_function(f"Number(document.body.dataset.evaluated || 0) >= {count}")


def test_review_page_in_chromium(tmp_path):
    descriptions, dev = write_review_files(tmp_path)
    session = ReviewSession(ReviewOptions(descriptions=descriptions, data=dev))
    app = create_app(ServeConfig(), review=session)
    with ServerThread(app) as server, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.goto(f"{server.url}/")  # redirects to /review/
        evaluated(page, 1)

        # the confusable pairs, worst first
        pairs = page.get_by_test_id("pair")
        assert pairs.count() == 6
        assert "book_flight ↔ reserve_ticket" in pairs.first.inner_text()
        assert "0.844" in pairs.first.inner_text()
        accuracy = page.get_by_test_id("dev-accuracy")
        assert accuracy.inner_text() == "83.3% (5 of 6 dev rows)"
        assert page.get_by_test_id("misclassified-row").count() == 1

        # try a sentence: the top 3, live
        page.get_by_test_id("try-text").fill("will it snow tomorrow")
        first = page.get_by_test_id("try-result").first
        first.wait_for()
        assert first.inner_text().startswith("weather ")
        assert page.get_by_test_id("try-result").count() == 3

        second = context.new_page()  # a second tab, opened on the same version
        second.goto(f"{server.url}/review/")
        evaluated(second, 1)

        # edit a description: dev accuracy and provenance follow, one text re-embedded
        label, slot, text = FIX
        card = page.locator(f'article[data-label="{label}"]')
        card.locator("textarea").nth(slot).fill(text)
        evaluated(page, 2)
        page.wait_for_function("document.body.dataset.encoded === '1'")
        assert accuracy.inner_text() == "100.0% (6 of 6 dev rows)"
        assert card.get_by_test_id("source").inner_text() == "reviewed"
        page.screenshot(path=str(artifacts() / "review.png"), full_page=True)

        page.get_by_test_id("save").click()
        status = page.get_by_test_id("status")
        sync_api.expect(status).to_contain_text("Saved")
        saved = descriptions.read_bytes()
        records = {r["label"]: r for r in yaml.safe_load(saved)["labels"]}
        assert records[label]["descriptions"][slot] == text
        assert records[label]["source"] == "reviewed"
        assert records["reserve_ticket"]["source"] == "llm"
        assert (tmp_path / "descriptions.yaml.bak").is_file()

        page.reload()
        evaluated(page, 1)
        assert page.locator(f'article[data-label="{label}"] textarea').nth(slot).input_value() == (
            text
        )

        # the stale tab: refused with a message, its edit still on the page, the file unchanged
        edit = second.locator('article[data-label="weather"] textarea').first
        edit.fill("The user asks whether it will rain.")
        second.get_by_test_id("save").click()
        sync_api.expect(second.get_by_test_id("status")).to_contain_text("saved elsewhere")
        assert edit.input_value() == "The user asks whether it will rain."
        assert descriptions.read_bytes() == saved
        browser.close()
