"""The site in real headless Chromium against a running server on a loopback port: pages
render, links work, nothing is logged to the console, and screenshots at desktop (1280) and
phone (390) widths are saved under test-artifacts/screenshots/.

Record images and provider logos are pointed at a loopback image server, so that the pages are
complete without the internet (and a missing image would show up as a console error)."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlparse

import httpx
import pytest

from app import create_app
from app.pipeline.images import store_image, url_key
from app.record import Image, Record
from app.store.db import Database
from app.store.repository import EnrichmentRepository, RecordRepository
from tests.conftest import NOW, ROOT, browser_env
from tests.web.conftest import corpus, make_settings, png

pytestmark = [
    pytest.mark.browser, pytest.mark.slow,
    # waitress leaves Chromium's keep-alive sockets to the garbage collector at shutdown
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
SHOTS = ROOT / "test-artifacts" / "screenshots"
WIDTHS = {"desktop": 1280, "phone": 390}
COLOURS_RGB = [(122, 166, 194), (194, 154, 122), (143, 179, 154), (179, 143, 176)]
COLOURS = ["#7aa6c2", "#c29a7a", "#8fb39a", "#b38fb0", "#c2b67a", "#7a8fc2"]


class ImageHandler(BaseHTTPRequestHandler):
    """Any path: a soft-coloured SVG placeholder standing in for the publisher's image."""

    def do_GET(self) -> None:
        colour = COLOURS[sum(self.path.encode()) % len(COLOURS)]
        body = (f'<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="675" '
                f'viewBox="0 0 1200 675"><rect width="1200" height="675" fill="{colour}"/>'
                f'<circle cx="600" cy="337" r="140" fill="#ffffff" opacity=".35"/></svg>')
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "image/svg+xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def _serve(server: Any) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


def _local_images(record: Record, base: str) -> Record:
    def move(images: tuple[Image, ...], kind: str) -> tuple[Image, ...]:
        return tuple(img.__class__(**{**img.__dict__, "url": f"{base}/{kind}/{record.id}/{i}"})
                     for i, img in enumerate(images))

    provider = record.provider.__class__(**{**record.provider.__dict__,
                                            "images": move(record.provider.images, "logo")})
    return record.replace(images=move(record.images, "image"), provider=provider)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("headless Chromium is not installed (apt-get install chromium "
                    "chromium-driver)")
    tmp = tmp_path_factory.mktemp("browser")
    images = ThreadingHTTPServer(("127.0.0.1", 0), ImageHandler)
    _serve(images)
    image_base = f"http://127.0.0.1:{images.server_address[1]}"
    db = Database(f"sqlite:///{tmp / 'newsdesk.db'}")
    data_dir = tmp / "var"
    with db.session() as session:
        repo = RecordRepository(session)
        cache = EnrichmentRepository(session)
        for i, record in enumerate(corpus()):
            record = _local_images(record, image_base)
            repo.save(record, now=NOW)
            for image in record.images[:1]:       # the site shows our copies only (issue 17)
                data = png(480, 270, COLOURS_RGB[i % len(COLOURS_RGB)])
                sha = store_image(data_dir, data, "png")
                cache.save_cached_image(url_key(image.url), image.url, now=NOW, sha256=sha,
                                        ext="png", width=480, height=270, size=len(data))
    from waitress import create_server

    app = create_app(make_settings(tmp), db)
    site = create_server(app, host="127.0.0.1", port=0, threads=4)
    _serve_thread = threading.Thread(target=site.run, daemon=True)
    _serve_thread.start()
    yield f"http://127.0.0.1:{site.effective_port}"
    site.close()
    images.shutdown()
    images.server_close()
    db.dispose()


@pytest.fixture(scope="module")
def browser(server: str) -> Iterator[Any]:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or ""
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-dev-shm-usage",
                 "--hide-scrollbars", "--force-device-scale-factor=1"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER or "",
                                                                  env=browser_env()))
    except Exception as exc:  # noqa: BLE001 - any failure to start means "no browser here"
        pytest.skip(f"headless Chromium did not start: {exc.__class__.__name__}: {exc}")
    driver.set_page_load_timeout(30)
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def console_errors(driver: Any) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser")
            if entry.get("level") in ("SEVERE", "ERROR")]


def visit(driver: Any, url: str) -> None:
    driver.get_log("browser")            # forget what earlier pages logged
    driver.get(url)
    assert driver.execute_script("return document.readyState") == "complete"


def screenshots(driver: Any, name: str) -> list[Path]:
    """Full-page screenshots at each width; the phone layout must not scroll sideways."""
    saved = []
    for label, width in WIDTHS.items():
        driver.set_window_size(width, 844 if label == "phone" else 900)
        driver.refresh()
        height = driver.execute_script("return document.documentElement.scrollHeight")
        overflow = driver.execute_script(
            "return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{name} scrolls sideways by {overflow}px at {width}px"
        wait_for_images(driver)
        driver.save_screenshot(str(SHOTS / f"{name}-{label}-first-screen.png"))
        driver.set_window_size(width, min(int(height) + 20, 6000))
        wait_for_images(driver)
        path = SHOTS / f"{name}-{label}.png"
        driver.save_screenshot(str(path))
        assert path.stat().st_size > 5000
        saved.append(path)
    driver.set_window_size(WIDTHS["desktop"], 900)
    return saved


def assert_links_work(driver: Any, base: str) -> None:
    from selenium.webdriver.common.by import By

    hrefs = {a.get_attribute("href") for a in driver.find_elements(By.CSS_SELECTOR, "a[href]")}
    local = sorted(h for h in hrefs if h and urlparse(h).netloc == urlparse(base).netloc)
    assert local
    with httpx.Client(follow_redirects=True, timeout=10) as client:
        for href in local:
            assert client.get(href.split("#")[0]).status_code == 200, href


def images_loaded(driver: Any) -> bool:
    return bool(driver.execute_script(
        "return Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"))


def wait_for_images(driver: Any) -> None:
    """Every image on the page (lazy ones are in view: the window is as tall as the page)
    has loaded; a broken one fails the test."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.execute_script("document.querySelectorAll('img[loading=lazy]')"
                          ".forEach(i => { i.loading = 'eager'; })")
    try:
        WebDriverWait(driver, 10).until(images_loaded)
    except Exception as exc:
        broken = driver.execute_script(
            "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
            ".map(i => i.src)")
        raise AssertionError(f"images did not load: {broken}") from exc


def test_front_page(browser: Any, server: str) -> None:
    from selenium.webdriver.common.by import By

    visit(browser, server + "/")
    assert browser.title.endswith("Newsdesk")
    stories = browser.find_elements(By.CSS_SELECTOR, ".hot .story-title a")
    assert len(stories) == 5
    assert browser.find_elements(By.CSS_SELECTOR, ".latest .card")
    assert browser.find_element(By.CSS_SELECTOR, "main#main")
    assert browser.find_element(By.CSS_SELECTOR, "nav[aria-label=Main]")
    for img in browser.find_elements(By.TAG_NAME, "img"):
        assert img.get_attribute("alt") is not None
    assert_links_work(browser, server)
    screenshots(browser, "front")
    assert console_errors(browser) == []
    story = browser.find_element(By.CSS_SELECTOR, ".hot .story-title a")
    first = story.text
    story.click()
    assert browser.find_element(By.CSS_SELECTOR, "h1.record-title").text == first


def test_topic_page(browser: Any, server: str) -> None:
    from selenium.webdriver.common.by import By

    visit(browser, server + "/")
    browser.find_element(By.LINK_TEXT, "Topics").click()
    browser.find_element(By.LINK_TEXT, "AI in Healthcare").click()
    assert browser.find_element(By.CSS_SELECTOR, "h1.page-title").text == "AI in Healthcare"
    cards = browser.find_elements(By.CSS_SELECTOR, "article.card")
    assert len(cards) >= 10
    feeds = {link.get_attribute("href") for link in browser.find_elements(
        By.CSS_SELECTOR, "link[rel=alternate]")}
    assert urljoin(server, "/topics/ai-in-healthcare/feed.xml") in feeds
    assert_links_work(browser, server)
    screenshots(browser, "topic")
    assert console_errors(browser) == []
    browser.find_element(By.LINK_TEXT, "Top").click()
    assert "sort=hottest" in browser.current_url
    assert console_errors(browser) == []


def test_record_page(browser: Any, server: str) -> None:
    from selenium.webdriver.common.by import By

    record = next(r for r in corpus() if r.published and "<script>" in r.body)
    visit(browser, f"{server}/items/{record.id}/not-the-slug")
    assert browser.current_url.endswith(f"/items/{record.id}/{record.slug}")
    assert browser.find_element(By.CSS_SELECTOR, "h1.record-title").text == record.title
    body = browser.find_element(By.CSS_SELECTOR, ".record-body")
    assert body.find_elements(By.TAG_NAME, "table")
    assert not browser.find_elements(By.CSS_SELECTOR, ".record-body script")
    link = browser.find_element(By.CSS_SELECTOR, ".read-on a.button")
    assert link.get_attribute("href") == record.web_url
    assert_links_work(browser, server)
    screenshots(browser, "record")
    assert console_errors(browser) == []
    rich = next(r for r in corpus() if r.published and r.images and r.related
                and r.provider.images)
    visit(browser, f"{server}/items/{rich.id}/{rich.slug}")
    assert browser.find_element(By.CSS_SELECTOR, ".record-image img")
    assert browser.find_element(By.CSS_SELECTOR, ".byline img.logo")
    screenshots(browser, "record-with-image")
    assert console_errors(browser) == []


def test_search(browser: Any, server: str) -> None:
    from selenium.webdriver.common.by import By

    visit(browser, server + "/")
    box = browser.find_element(By.ID, "site-search-q")
    box.send_keys("AI model")
    box.submit()
    assert "/search?q=AI+model" in browser.current_url
    results = browser.find_elements(By.CSS_SELECTOR, "li.result")
    assert results
    assert browser.find_elements(By.CSS_SELECTOR, "li.result mark")
    assert_links_work(browser, server)
    screenshots(browser, "search")
    assert console_errors(browser) == []
    visit(browser, server + '/search?q="unbalanced OR')
    assert browser.find_element(By.CSS_SELECTOR, "h1.page-title").text == "Search"
    assert console_errors(browser) == []


def test_not_found_page(browser: Any, server: str) -> None:
    from selenium.webdriver.common.by import By

    visit(browser, server + "/topics/no-such-topic/")
    assert browser.find_element(By.CSS_SELECTOR, "h1.page-title").text == "Page not found"
    screenshots(browser, "not-found")
