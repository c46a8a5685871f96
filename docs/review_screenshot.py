"""Make ``docs/review.png``: the review page on 16 CLINC150 banking labels (the shipped reviewed
descriptions) with their CLINC150 val rows as dev data, in Debian's chromium.

    .venv/bin/python docs/review_screenshot.py [--out docs/review.png]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

LABELS = [
    "balance", "bill_balance", "bill_due", "pay_bill", "transfer", "transactions",
    "spending_history", "freeze_account", "account_blocked", "report_fraud", "card_declined",
    "pin_change", "interest_rate", "routing", "min_payment", "order_checks",
]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "review.png")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright
    from serve_helpers import ServerThread
    from test_review_browser import CHROMIUM, CHROMIUM_ARGS, evaluated

    from labelsync import Descriptions
    from labelsync.serve.app import create_app
    from labelsync.serve.config import ServeConfig
    from labelsync.serve.review.session import ReviewOptions, ReviewSession

    folder = Path(tempfile.mkdtemp(prefix="labelsync-review-shot-"))
    descriptions = folder / "banking.yaml"
    Descriptions.reviewed("clinc150").subset(LABELS).to_yaml(descriptions)
    data = json.loads((REPO.parent / "shared/data/clinc150/data_full.json").read_text())
    rows = [(t, label) for t, label in data["val"] if label in LABELS]
    (folder / "dev.tsv").write_text("text\tlabel\n" + "".join(f"{t}\t{l}\n" for t, l in rows))
    session = ReviewSession(ReviewOptions(descriptions=descriptions, data=folder / "dev.tsv"))
    with ServerThread(create_app(ServeConfig(), review=session)) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.goto(f"{server.url}/review/")
        evaluated(page, 1)
        page.get_by_test_id("try-text").fill("how much money is left in my checking account")
        page.get_by_test_id("try-result").first.wait_for()
        page.screenshot(path=str(args.out))
        browser.close()
    print(args.out)


if __name__ == "__main__":
    main()
