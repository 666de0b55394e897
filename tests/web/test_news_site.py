"""The reader's site and the editor pages as a reader and an editor see them (issue 17): every
page in real headless Chromium at 1280 and 390 px against a running server on loopback.

For each page: no request leaves the site's origin (Chromium's own network log, and a fake
third-party publisher server that the records' images and logos point at must get no request
at all), every image has width and height, nothing scrolls sideways, no asset answers an error.
Screenshots go to test-artifacts/screenshots/news-*.png."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import urlparse

import pytest

from app import create_app
from app.config import Settings
from app.pipeline.images import store_image, url_key
from app.record import Image, Record
from app.store.db import Database
from app.store.repository import EnrichmentRepository, RecordRepository
from tests.conftest import NOW, browser_env
from tests.editor_fixtures import PASSWORD, QUEUED, add_user
from tests.web.conftest import corpus, png
from tests.web.story_fixtures import sepsis_story
from tests.web.test_browser import CHROMEDRIVER, CHROMIUM, SHOTS

pytestmark = [
    pytest.mark.browser, pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}
COLOURS = [(122, 166, 194), (194, 154, 122), (143, 179, 154), (179, 143, 176)]


class Publisher(BaseHTTPRequestHandler):
    """A third party's server: every request it gets is one a reader's browser should not
    have sent."""

    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        Publisher.seen.append(self.path)
        body = png(4, 4, COLOURS[0])
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def _third_party(record: Record, base: str) -> Record:
    """The record's images, logo and body images at the fake publisher."""
    def move(images: tuple[Image, ...], kind: str) -> tuple[Image, ...]:
        return tuple(img.__class__(**{**img.__dict__, "url": f"{base}/{kind}/{record.id}/{i}"})
                     for i, img in enumerate(images))
    provider = record.provider.__class__(**{**record.provider.__dict__,
                                            "images": move(record.provider.images, "logo")})
    body = record.body + f'\n\n<img src="{base}/body/{record.id}.png" alt="x">\n'
    return record.replace(images=move(record.images, "image"), provider=provider, body=body)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("headless Chromium is not installed")
    from waitress import create_server

    tmp = tmp_path_factory.mktemp("news")
    publisher = ThreadingHTTPServer(("127.0.0.1", 0), Publisher)
    threading.Thread(target=publisher.serve_forever, daemon=True).start()
    third = f"http://127.0.0.1:{publisher.server_address[1]}"
    settings = Settings.from_env({}, data_dir=tmp / "var", secret_key="news-site-tests",
                                 clock=lambda: NOW)
    db = Database(f"sqlite:///{tmp / 'newsdesk.db'}")
    held = []
    held_ids: set[str] = set()
    with db.session() as session:
        repo = RecordRepository(session)
        for i, record in enumerate(corpus()):
            record = _third_party(record, third)
            repo.save(record, now=NOW)
            if record.images and i % 2 == 0:          # half the images held, half not yet
                held.append((record.images[0].url, COLOURS[i % len(COLOURS)]))
                held_ids.add(record.id)
        cache = EnrichmentRepository(session)
        for url, colour in held:
            data = png(320, 180, colour)
            sha = store_image(settings.data_dir, data, "png")
            cache.save_cached_image(url_key(url), url, now=NOW, sha256=sha, ext="png",
                                    width=320, height=180, size=len(data))
    story = sepsis_story(db, NOW)
    add_user(db, "root", "admin", now=NOW)
    app = create_app(settings, db)
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    threading.Thread(target=server.run, daemon=True).start()
    Publisher.seen.clear()
    yield {"base": f"http://127.0.0.1:{server.effective_port}", "third": third,
           "story": story, "records": corpus(),
           "held": held_ids}
    server.close()
    publisher.shutdown()
    publisher.server_close()
    db.dispose()


@pytest.fixture(scope="module")
def chrome(site: dict[str, Any]) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or ""
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-dev-shm-usage",
                 "--hide-scrollbars", "--force-device-scale-factor=1"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    try:
        driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER or "",
                                                                  env=browser_env()))
    except Exception as exc:  # noqa: BLE001 - any failure to start means "no browser here"
        pytest.skip(f"headless Chromium did not start: {exc}")
    driver.set_page_load_timeout(30)
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def network(driver: Any) -> tuple[list[str], list[tuple[int, str]]]:
    """Requests Chromium sent and responses with an error status, since the last call."""
    sent, failed = [], []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message.get("method") == "Network.requestWillBeSent":
            sent.append(params["request"]["url"])
        elif message.get("method") == "Network.responseReceived":
            response = params["response"]
            if response["status"] >= 400 and params.get("type") != "Document":
                failed.append((response["status"], response["url"]))
    return sent, failed


def check_page(driver: Any, base: str, path: str, name: str) -> None:
    """The page at both widths: only our origin, sized images, no sideways scroll, no
    failed asset; a screenshot of the first screen at each width."""
    from selenium.webdriver.support.ui import WebDriverWait

    for label, (width, height) in WIDTHS.items():
        driver.set_window_size(width, height)
        network(driver)
        driver.get(base + path)
        driver.execute_script("document.querySelectorAll('img[loading=lazy]')"
                              ".forEach(i => { i.loading = 'eager'; })")
        WebDriverWait(driver, 10).until(lambda d: d.execute_script(
            "return Array.from(document.images).every(i => i.complete)"))
        sent, failed = network(driver)
        origin = urlparse(base).netloc
        away = [u for u in sent if urlparse(u).scheme in ("http", "https")
                and urlparse(u).netloc != origin]
        assert away == [], f"{path} at {width}px asked other origins: {away}"
        assert failed == [], f"{path} at {width}px: assets failed {failed}"
        unsized = driver.execute_script(
            "return Array.from(document.images).filter(i => !i.getAttribute('width')"
            " || !i.getAttribute('height') || !(i.naturalWidth > 0)).map(i => i.outerHTML)")
        assert unsized == [], f"{path} at {width}px: unsized or broken images {unsized}"
        overflow = driver.execute_script(
            "return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at {width}px"
        driver.save_screenshot(str(SHOTS / f"news-{name}-{label}.png"))
    driver.set_window_size(*WIDTHS["desktop"])


def public_pages(site: dict[str, Any]) -> dict[str, str]:
    records: list[Record] = site["records"]
    rich = next(r for r in records if r.published and r.related and r.id in site["held"])
    unheld = next(r for r in records if r.published and r.images and r.id not in site["held"])
    plain = next(r for r in records if r.published and not r.images)
    lead = site["story"][0]
    return {
        "front": "/", "topics": "/topics/", "topic": "/topics/ai-in-healthcare/",
        "topic-top": "/topics/ai-in-healthcare/?sort=hottest", "latest": "/latest/",
        "topic-empty": "/topics/ai-in-robotics/",
        "record-image": f"/items/{rich.id}/{rich.slug}",
        "record-plain": f"/items/{plain.id}/{plain.slug}",
        "record-image-not-held": f"/items/{unheld.id}/{unheld.slug}",
        "record-story": f"/items/{lead.id}/{lead.slug}",
        "provider": f"/providers/{rich.provider.domain}/", "search": "/search?q=AI+model",
        "search-none": "/search?q=zzzqqq+nothingmatches",
    }


def test_public_pages_at_both_widths(chrome: Any, site: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    for name, path in public_pages(site).items():
        check_page(chrome, site["base"], path, name)
        if name == "record-image":          # our copy shows, sized as the cache says
            image = chrome.find_element(By.CSS_SELECTOR, ".record-image img")
            assert image.get_attribute("src").startswith(site["base"] + "/assets/images/cached/")
            size = (image.get_dom_attribute("width"), image.get_dom_attribute("height"))
            assert size == ("320", "180")
        if name == "record-image-not-held":     # no copy yet: no image box at all
            assert not chrome.find_elements(By.CSS_SELECTOR, ".record-image")
    assert Publisher.seen == [], "the publisher's server was called by the reader's browser"


def test_editor_pages_at_both_widths(chrome: Any, site: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    base = site["base"]
    chrome.delete_all_cookies()
    check_page(chrome, base, "/editor/login", "editor-login")
    chrome.find_element(By.NAME, "username").send_keys("root")
    chrome.find_element(By.NAME, "password").send_keys(PASSWORD)
    chrome.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(chrome, 10).until(lambda d: d.current_url.rstrip("/").endswith("/editor"))
    pages = {"editor-queue": "/editor/", "editor-record": f"/editor/records/{QUEUED}",
             "editor-sources": "/editor/sources", "editor-topics": "/editor/topics",
             "editor-rule": "/editor/topics/rule?topic=AI+in+Healthcare",
             "editor-tokens": "/editor/tokens", "editor-audit": "/editor/audit"}
    for name, path in pages.items():
        check_page(chrome, base, path, name)
    chrome.set_window_size(*WIDTHS["phone"])
    chrome.get(base + "/editor/")
    sign_out = chrome.find_element(By.CSS_SELECTOR, ".editor-nav button.link")
    right = chrome.execute_script("return arguments[0].getBoundingClientRect().right",
                                  sign_out)
    assert 0 < right <= 390, "Sign out is off-screen on a phone"
    chrome.set_window_size(*WIDTHS["desktop"])
    chrome.delete_all_cookies()
    assert Publisher.seen == []


def test_a_story_is_one_cluster_on_its_topic_page(chrome: Any, site: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    lead, *others = site["story"]
    chrome.get(site["base"] + "/topics/ai-in-healthcare/?sort=hottest")
    cards = [c for c in chrome.find_elements(By.CSS_SELECTOR, "article.card")
             if "Mayo Clinic" in c.text]
    assert len(cards) == 1
    first = chrome.find_elements(By.CSS_SELECTOR, "article.card")[0]
    assert first.find_element(By.CSS_SELECTOR, ".card-title").text == lead.title
    also = cards[0].find_element(By.CSS_SELECTOR, ".also")
    assert also.text == "Also covered by Fierce Healthcare, Healthcare IT News"
    assert "3 sources" in cards[0].text
    also.find_element(By.LINK_TEXT, "Healthcare IT News").click()
    assert chrome.find_element(By.CSS_SELECTOR, "h1.record-title").text == others[1].title


def test_on_a_phone_the_topics_come_before_the_stories(chrome: Any,
                                                      site: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    chrome.set_window_size(*WIDTHS["phone"])
    chrome.get(site["base"] + "/")
    topics = chrome.find_element(By.ID, "topics-heading").rect["y"]
    stories = chrome.find_element(By.ID, "hot-heading").rect["y"]
    assert topics < stories
    assert topics < 844, "the topics are not on the first screen of a phone"
    chrome.set_window_size(*WIDTHS["desktop"])


