"""Benchmark: the reader site under gunicorn (2 workers) on a database of 100,000 records over
30 topics, beside a baseline measured in the same run.

    .venv/bin/python bench/serve.py [--records 100000] [--duration 10] [--connections 8]

Measured (requests/s, p50, p99):
  - a topic page (the first page of the largest topic: newest first), 200;
  - the topic page a thousand pages deep would be (keyset cursor), 200;
  - the topic's RSS feed, 200 (no validator sent);
  - the same feed with If-None-Match, answered 304;
  - baseline: the same feed bytes served as a static file by the same gunicorn (2 sync workers)
    running a ten-line WSGI app that reads the file from disk on every request.
  - uncached (issue 19), in process through the Flask app with the rendered-page cache emptied
    before every request: the largest topic's page hottest first, and a search for the word found
    in most records, each beside its baseline (the query before issue 19: the topic links joined
    to `records` and sorted by the record's heat; every match ranked by bm25), in alternating
    rounds, with the pages compared for identical stories.  `--uncached-only` measures just these.
Load comes from `wrk` when it is installed (apt-get install wrk), else from a Python client
with one thread per connection (it then shares the two cores with the server, so figures are
lower).  Targets (issue 6): topic page p99 < 50 ms, feed 304 >= 2,000 requests/s; (issue 19)
uncached hottest-first topic page and common-word search p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOPICS = [
    "AI in Healthcare", "AI", "Medical Imaging", "Regulation", "AI Ethics", "Drug Discovery",
    "Clinical Documentation", "Mental Health", "Genomics", "Oncology", "Cardiology",
    "Radiology", "Pathology", "Public Health", "Health Policy", "Digital Health", "Telehealth",
    "Wearables", "Robotics", "Natural Language Processing", "Computer Vision", "Privacy",
    "Cybersecurity", "Startups", "Funding", "Research", "Clinical Trials", "Nursing",
    "Pharma", "Hospitals",
]
WORDS = ("model algorithm patients clinicians hospital study trial imaging diagnosis risk "  # noqa: SIM905
         "sepsis cancer screening triage chatbot scribe validation bias fairness regulator "
         "device clearance deployment outcomes accuracy dataset privacy workflow").split()


# --------------------------------------------------------------------------- the database

def build_database(url: str, count: int, seed: int = 7) -> dict[str, Any]:
    """Insert `count` records with bulk SQL (triggers keep the FTS index and change counter)."""
    from sqlalchemy import insert

    from app.record import slugify
    from app.store.db import Database
    from app.store.models import ImageRow, ProviderRow, RecordRow, RecordTopicRow, TopicRow

    rng = random.Random(seed)
    db = Database(url)
    now = datetime(2026, 11, 25, 12, 0)
    start = now - timedelta(days=3 * 365)
    weights = [1.0 / (i + 1) ** 0.6 for i in range(len(TOPICS))]
    with db.session() as session:
        session.execute(insert(TopicRow), [dict(id=i + 1, name=n, slug=slugify(n))
                                           for i, n in enumerate(TOPICS)])
        session.execute(insert(ProviderRow), [dict(id=i + 1, domain=f"news{i}.example.org",
                                                   name=f"News Outlet {i}")
                                              for i in range(300)])
        batch: list[dict[str, Any]] = []
        links: list[dict[str, Any]] = []
        images: list[dict[str, Any]] = []
        topic_sizes = [0] * len(TOPICS)

        def flush() -> None:
            session.execute(insert(RecordRow), batch)
            session.execute(insert(RecordTopicRow), links)
            session.execute(insert(ImageRow), images)
            batch.clear(), links.clear(), images.clear()

        for n in range(count):
            url = f"https://news{n % 300}.example.org/2025/story-{n}"
            rid = hashlib.sha256(url.encode()).hexdigest()[:16]
            when = start + timedelta(seconds=rng.randrange(3 * 365 * 86400))
            title = " ".join(rng.choice(WORDS) for _ in range(9)).capitalize()
            published = rng.random() < 0.9
            excerpt = " ".join(rng.choice(WORDS) for _ in range(40))
            quality, heat = rng.randrange(120), rng.randrange(-1, 150)
            batch.append(dict(
                id=rid, category="news", title=f"{title} ({n})",
                excerpt=excerpt, published_at=when,
                original_url=None, web_url=url, amp_web_url=None, cdn_amp_web_url=None,
                type="article", quality=quality, heat=heat,
                published=published, provider_id=n % 300 + 1,
                provider_name=f"News Outlet {n % 300}", secured=None, body="",
                content_hash=hashlib.sha256(rid.encode()).hexdigest(), created_at=now,
                updated_at=now))
            chosen = set(rng.choices(range(len(TOPICS)), weights=weights, k=rng.randint(1, 3)))
            for pos, t in enumerate(sorted(chosen)):
                links.append(dict(record_id=rid, topic_id=t + 1, position=pos,
                                  published=published, published_at=when, heat=heat))
                topic_sizes[t] += 1
            if n % 2 == 0:
                images.append(dict(record_id=rid, related_position=None, role="record",
                                   position=0, url=f"https://img.example.org/{rid}.jpg",
                                   width=1200, height=675, title=None, is_cached=True,
                                   extra=None))
            if len(batch) >= 5000:
                flush()
        if batch:
            flush()
    db.dispose()
    largest = max(range(len(TOPICS)), key=lambda i: topic_sizes[i])
    return {"topic": slugify(TOPICS[largest]), "topic_records": topic_sizes[largest]}


def thousandth_cursor(url: str, slug: str, page: int = 1000, size: int = 20) -> str:
    """The `before` value the 'Older' link of page 999 carries (or of the last full page)."""
    from sqlalchemy import text

    from app.store.db import Database
    from app.store.reader import Cursor
    from app.store.repository import from_db_time

    db = Database(url)
    with db.session() as session:
        total = session.execute(text(
            "SELECT count(*) FROM record_topics rt JOIN topics t ON t.id = rt.topic_id "
            "WHERE t.slug = :slug AND rt.published"), {"slug": slug}).scalar_one()
        offset = min((page - 1) * size, max(total - size, 0)) - 1
        row = session.execute(text(
            "SELECT rt.published_at, rt.record_id FROM record_topics rt "
            "JOIN topics t ON t.id = rt.topic_id WHERE t.slug = :slug AND rt.published "
            "ORDER BY rt.published_at DESC, rt.record_id DESC LIMIT 1 OFFSET :offset"),
            {"slug": slug, "offset": max(offset, 0)}).one()
    db.dispose()
    when = from_db_time(row[0] if isinstance(row[0], datetime)
                        else datetime.fromisoformat(str(row[0])))
    assert when is not None
    return Cursor(published_at=when, record_id=row[1]).encode()


# --------------------------------------------------------------------------- uncached pages

def most_common_word(url: str) -> tuple[str, int]:
    """The word of WORDS that the most records contain, and in how many."""
    import sqlite3

    connection = sqlite3.connect(url.removeprefix("sqlite:///"))
    counts = {w: connection.execute("SELECT count(*) FROM records_fts WHERE records_fts MATCH ?",
                                    (f'"{w}"',)).fetchone()[0] for w in WORDS}
    connection.close()
    word = max(counts, key=lambda w: counts[w])
    return word, counts[word]


def old_topic_records(self: Any, topic_id: int, *, limit: int, before: Any = None,
                      sort: str = "newest") -> Any:
    """Baseline: `ReaderRepository.topic_records` before issue 19 (the record's heat, joined)."""
    from sqlalchemy import func, select

    from app.store.models import RecordRow, RecordTopicRow
    from app.store.repository import NO_HEAT, public_condition

    query = (select(RecordTopicRow.record_id)
             .join(RecordRow, RecordRow.id == RecordTopicRow.record_id)
             .where(RecordTopicRow.topic_id == topic_id,
                    RecordTopicRow.published.is_(True), public_condition()))
    return self._page(query, RecordTopicRow.published_at, RecordTopicRow.record_id, limit,
                      before, sort, func.coalesce(RecordRow.heat, NO_HEAT))


def measure_uncached(env: dict[str, str], url: str, topic: str, rounds: int,
                     requests: int) -> list[tuple[str, list[dict[str, float]]]]:
    """p50/p99 (ms) per round of `requests` GETs with the page cache emptied before each."""
    import app.store.search as search_module
    from app.store.reader import ReaderRepository
    from app.web.http import BodyCache

    os.environ.update(env)
    from app import create_app

    flask_app = create_app()
    client = flask_app.test_client()
    word, matches = most_common_word(url)
    print(f"uncached: /topics/{topic}/?sort=hottest and /search?q={word} ({matches:,} records "
          f"contain '{word}'); {rounds} rounds x {requests} requests each")
    new_topic_records = ReaderRepository.topic_records
    new_cap = search_module.MAX_RANKED

    def use(baseline: bool) -> None:
        ReaderRepository.topic_records = (  # type: ignore[method-assign]
            old_topic_records if baseline else new_topic_records)
        search_module.MAX_RANKED = 10**12 if baseline else new_cap

    def get(path: str) -> tuple[float, bytes]:
        flask_app.extensions["newsdesk.page_bodies"] = BodyCache(size=256)
        t0 = time.perf_counter()
        response = client.get(path)
        elapsed = (time.perf_counter() - t0) * 1000
        assert response.status_code == 200, (path, response.status_code)
        return elapsed, response.data

    def stories(body: bytes) -> list[str]:
        return re.findall(r'href="(/items/[^"]+)"', body.decode())

    cases = [("hottest-first topic page", f"/topics/{topic}/?sort=hottest"),
             ("search, most common word", f"/search?q={word}")]
    results: dict[str, list[dict[str, float]]] = {}
    for label, path in cases:
        for baseline in (False, True):
            use(baseline)
            get(path)                                          # warm the per-version values
        use(False)
        new_body = get(path)[1]
        use(True)
        old_body = get(path)[1]
        same = stories(new_body) == stories(old_body)
        capped = b"most recently added" in new_body
        print(f"  {label}: {len(set(stories(new_body)))} stories on the page, "
              f"{'identical to' if same else 'different from'} the baseline's"
              + (" (ranked among the latest matches, as the page says)" if capped else ""))
    for r in range(rounds):
        for label, path in cases:
            for baseline in ((False, True) if r % 2 == 0 else (True, False)):
                use(baseline)
                times = sorted(get(path)[0] for _ in range(requests))
                name = f"baseline: {label} (before issue 19)" if baseline else label
                results.setdefault(name, []).append(
                    {"p50": times[len(times) // 2],
                     "p99": times[min(len(times) - 1, int(len(times) * 0.99))]})
    use(False)
    return list(results.items())


def print_uncached(results: list[tuple[str, list[dict[str, float]]]]) -> None:
    print(f"\n{'uncached, in process (ms)':48} {'p50 median':>10} {'p99 median':>10} "
          f"{'p99 min-max over rounds':>24}")
    for label, rounds in results:
        p50 = sorted(r["p50"] for r in rounds)
        p99 = sorted(r["p99"] for r in rounds)
        print(f"{label:48} {p50[len(p50) // 2]:10.1f} {p99[len(p99) // 2]:10.1f} "
              f"{p99[0]:11.1f} - {p99[-1]:.1f}")
    for label, rounds in results:
        if not label.startswith("baseline"):
            worst = max(r["p99"] for r in rounds)
            print(f"target {label} p99 < 50 ms (worst round): {worst:.1f} ms "
                  f"{'MET' if worst < 50 else 'MISSED'}")


# --------------------------------------------------------------------------- servers

def static_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """Baseline: a file served as is (read from disk on every request)."""
    path = os.environ["BENCH_STATIC_FILE"]
    with open(path, "rb") as handle:
        data = handle.read()
    start_response("200 OK", [("Content-Type", "application/rss+xml; charset=utf-8"),
                              ("Content-Length", str(len(data))),
                              ("Cache-Control", "public, max-age=900")])
    return [data]


class Server:
    def __init__(self, app: str, env: dict[str, str], workers: int = 2) -> None:
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        self.log = tempfile.TemporaryFile("w+")  # noqa: SIM115 - lives as long as the server
        self.proc = subprocess.Popen(
            [gunicorn, "-w", str(workers), "--preload", "-b", "127.0.0.1:0",
             "--log-level", "info", "--pythonpath", str(ROOT / "bench"), app],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.write(line)
            found = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", line)
            if found:
                self.port = int(found.group(1))
                break
        else:
            self.log.seek(0)
            raise SystemExit(f"gunicorn did not start:\n{self.log.read()}")
        threading.Thread(target=self._drain, daemon=True).start()
        time.sleep(1.0)                       # let both workers boot

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for _ in self.proc.stderr:
            pass

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def fetch(port: int, path: str, headers: dict[str, str] | None = None
          ) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


# --------------------------------------------------------------------------- load

def run_wrk(port: int, path: str, headers: dict[str, str], seconds: int,
            connections: int) -> dict[str, float]:
    args = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run([*args, f"http://127.0.0.1:{port}{path}"], capture_output=True,
                         text=True, check=True).stdout

    def latency(label: str) -> float:
        m = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            return float("nan")
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": float(rps.group(1)) if rps else float("nan"), "p50": latency("50"),
            "p99": latency("99"), "bad": int(non2xx.group(1)) if non2xx else 0,
            "errors": errors.group(1) if errors else ""}  # type: ignore[dict-item]


def run_python(port: int, path: str, headers: dict[str, str], seconds: int,
               connections: int) -> dict[str, float]:
    times: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    bad = [0]

    def worker() -> None:
        local = []
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            status, _, _ = fetch(port, path, headers)
            local.append(time.perf_counter() - t0)
            if status not in (200, 304):
                bad[0] += 1
        with lock:
            times.extend(local)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    times.sort()
    return {"rps": len(times) / elapsed, "p50": times[len(times) // 2] * 1000,
            "p99": times[int(len(times) * 0.99)] * 1000, "bad": bad[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--tool", choices=["wrk", "python"],
                        default="wrk" if shutil.which("wrk") else "python")
    parser.add_argument("--keep", type=Path, help="keep the database in this folder")
    parser.add_argument("--rounds", type=int, default=3, help="uncached: rounds (alternating)")
    parser.add_argument("--requests", type=int, default=100, help="uncached: requests a round")
    parser.add_argument("--uncached-only", action="store_true",
                        help="measure only the uncached topic page and search (no gunicorn)")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="newsdesk-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{work / 'newsdesk.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSDESK_")}
    env.update(NEWSDESK_DATA_DIR=str(work), NEWSDESK_DATABASE_URL=url,
               NEWSDESK_BASE_URL="http://bench.example.org", NEWSDESK_LOG_LEVEL="WARNING")
    marker = work / "built.txt"
    if marker.exists():
        topic, size = marker.read_text(encoding="utf-8").split()
        info = {"topic": topic, "topic_records": int(size)}
        print(f"database: reusing {args.records:,} records in {work}")
    else:
        t0 = time.perf_counter()
        info = build_database(url, args.records)
        marker.write_text(f"{info['topic']} {info['topic_records']}", encoding="utf-8")
        print(f"database: {args.records:,} records over {len(TOPICS)} topics built in "
              f"{time.perf_counter() - t0:.1f}s ({work})")
    topic = info["topic"]
    print(f"topic measured: /topics/{topic}/ ({info['topic_records']:,} records)")
    uncached = measure_uncached(env, url, topic, args.rounds, args.requests)
    if args.uncached_only:
        print_uncached(uncached)
        return

    load = run_wrk if args.tool == "wrk" else run_python
    site = Server("app:create_app()", env)
    try:
        feed_path = f"/topics/{topic}/feed.xml"
        status, headers, feed = fetch(site.port, feed_path)
        assert status == 200, status
        etag = headers["etag"]
        assert fetch(site.port, feed_path, {"If-None-Match": etag})[0] == 304
        deep = f"/topics/{topic}/?before={thousandth_cursor(url, topic)}"
        assert fetch(site.port, deep)[0] == 200
        static_file = work / "feed.xml"
        static_file.write_bytes(feed)
        cases = [
            ("topic page, 200", f"/topics/{topic}/", {}),
            ("topic page 1,000 (keyset ?before=), 200", deep, {}),
            ("topic feed (RSS), 200", feed_path, {}),
            ("topic feed, 304 (If-None-Match)", feed_path, {"If-None-Match": etag}),
        ]
        results = []
        for label, path, hdrs in cases:
            load(site.port, path, hdrs, 2, args.connections)           # warm up
            results.append((label, load(site.port, path, hdrs, args.duration,
                                        args.connections)))
    finally:
        site.stop()
    static_env = dict(env, BENCH_STATIC_FILE=str(static_file))
    static = Server("serve:static_app", static_env)
    try:
        load(static.port, "/feed.xml", {}, 2, args.connections)
        results.append(("baseline: same feed bytes as a static file",
                        load(static.port, "/feed.xml", {}, args.duration, args.connections)))
    finally:
        static.stop()

    print(f"\ngunicorn, 2 sync workers; load: {args.tool}, {args.connections} connections, "
          f"{args.duration}s each; feed {len(feed):,} bytes\n")
    print(f"{'':44} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx/3xx':>12}")
    for label, r in results:
        print(f"{label:44} {r['rps']:9.0f} {r['p50']:8.2f} {r['p99']:8.2f} {r['bad']:>12}")
    by = dict(results)
    page_p99 = by["topic page, 200"]["p99"]
    not_modified = by["topic feed, 304 (If-None-Match)"]["rps"]
    print(f"\ntargets: topic page p99 < 50 ms: {page_p99:.1f} ms "
          f"{'MET' if page_p99 < 50 else 'MISSED'}; feed 304 >= 2,000 req/s: "
          f"{not_modified:,.0f} {'MET' if not_modified >= 2000 else 'MISSED'}")
    print_uncached(uncached)


if __name__ == "__main__":
    main()
