"""Screenshots of the built site in headless Chromium (Debian's, as the MLflow UI test drives it), for a person to
look at before a change to the docs lands: the landing page, a guide page, a gallery example and an API page.

    make docs && python docs/screenshots.py      # writes outputs/docs_screenshots/*.png
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
SITE = DOCS / "_build" / "html"
PAGES = {
    "landing": "index.html",
    "guide_tables": "user_guide/tables.html",
    "gallery_image_anomaly_maps": "auto_examples/plot_image_anomaly_maps.html",
    "api_VAEAnomalyDetector": "generated/anomaly_vae.VAEAnomalyDetector.html",
    "benchmarks": "benchmarks.html",
    "cli": "cli.html",
}


def main(out: Path = DOCS.parent / "outputs" / "docs_screenshots") -> None:
    from playwright.sync_api import sync_playwright

    missing = [name for name in PAGES.values() if not (SITE / name).is_file()]
    if missing:
        sys.exit(f"error: build the site first (make docs): {missing} not in {SITE}")
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        for shot, name in PAGES.items():
            page.goto((SITE / name).as_uri())
            page.wait_for_load_state("load")
            page.screenshot(path=str(out / f"{shot}.png"), full_page=False)
            print(f"{out / shot}.png")
        browser.close()


if __name__ == "__main__":
    main()
