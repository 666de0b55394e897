"""Ingestion benchmark: a loopback farm of N sources x M entries (default 1,000 x 50).

Three contenders fetch the same farm twice (first pass: every feed 200; second pass: every feed
304), each in a fresh process so that CPU time and peak memory are its own:

  bare       httpx GET (8 threads, ETag kept) + feedparser.parse; nothing is stored
  reader     the `reader` package (lemon24/reader): add_feed x N, update_feeds(workers=8)
  newsdesk   our pipeline: run_pass(every=True) (fetch, parse, normalize, classify, store)

The farm server runs in a process of its own.  Printed per contender and pass: wall time,
entries/s, sources/s, CPU seconds per source, peak memory; then our ratios to both baselines.

    .venv/bin/python bench/ingest.py [--sources 1000] [--entries 50] [--only newsdesk,reader]
                                     [--via-cli] [--farm plain|mixed]

--farm mixed (issue 19) serves a second farm of another shape (tests/feedserver.py: mixed_feed):
RSS with content:encoded and media:, Atom with HTML content and JSON Feed in turn, each entry
~2 KB of HTML with images; between the two passes every fourth feed gets 3 new entries in place
of its 3 oldest, so the second pass is mostly 304s with some 200s to parse and store.

--via-cli (issue 19) times each pass as a user runs it, a whole process each: `newsdesk fetch
--all` for newsdesk, a `python -c` of make_reader + update_feeds(workers=8) for reader (start-up,
imports and the database's opening included; setting up the feeds is not timed).

`reader` comes from PyPI (`pip install -e '.[bench]'`); without it that baseline is skipped.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def serve_farm(entries: int, port_queue: mp.Queue, stop: mp.Event,  # type: ignore[type-arg]
               farm: str = "plain") -> None:
    from tests.feedserver import FeedServer, farm_route, mixed_farm_route

    with FeedServer() as server:
        server.prefixes["/farm/"] = (mixed_farm_route if farm == "mixed" else farm_route)(entries)
        port_queue.put(server.port)
        stop.wait()


def _usage() -> tuple[float, int]:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
    return cpu, max(own.ru_maxrss, kids.ru_maxrss)


def _timed(fn) -> dict[str, float]:  # type: ignore[no-untyped-def]
    cpu0, _ = _usage()
    t0 = time.perf_counter()
    entries = fn()
    wall = time.perf_counter() - t0
    cpu1, rss = _usage()
    return {"wall": wall, "cpu": cpu1 - cpu0, "entries": entries, "rss_kb": rss}


BETWEEN: list[Callable[[], None]] = []     # what changes the farm between the two passes


def _two_passes(a_pass: Callable[[], int]) -> list[dict[str, float]]:
    first = _timed(a_pass)
    for change in BETWEEN:
        change()
    return [first, _timed(a_pass)]


def run_bare(urls: list[str]) -> list[dict[str, float]]:
    from concurrent.futures import ThreadPoolExecutor

    import feedparser
    import httpx

    client = httpx.Client(limits=httpx.Limits(max_connections=16), timeout=30)
    etags: dict[str, str] = {}

    def one(url: str) -> int:
        headers = {"If-None-Match": etags[url]} if url in etags else {}
        response = client.get(url, headers=headers)
        if response.status_code == 304:
            return 0
        if "etag" in response.headers:
            etags[url] = response.headers["etag"]
        return len(feedparser.parse(response.content).entries)

    def a_pass() -> int:
        with ThreadPoolExecutor(8) as pool:
            return sum(pool.map(one, urls))

    return _two_passes(a_pass)


def run_reader(urls: list[str], tmp: Path) -> list[dict[str, float]]:
    from reader import make_reader

    reader = make_reader(str(tmp / "reader.sqlite"))
    for url in urls:
        reader.add_feed(url)

    def a_pass() -> int:
        before = reader.get_entry_counts().total
        reader.update_feeds(workers=8, scheduled=False)
        return reader.get_entry_counts().total - before

    passes = _two_passes(a_pass)
    reader.close()
    return passes


def run_newsdesk(urls: list[str], tmp: Path) -> list[dict[str, float]]:
    from app.config import Settings
    from app.ingest import run_pass
    from app.sources import load_feeds
    from app.store.db import Database

    feeds = tmp / "feeds"
    feeds.mkdir()
    for name in ("topics.yaml", "providers.yaml"):
        (feeds / name).write_text((ROOT / "feeds" / name).read_text(encoding="utf-8"),
                                  encoding="utf-8")
    (feeds / "sources.yaml").write_text("sources:\n" + "".join(
        f"  - {{name: farm-{i}, url: '{url}'}}\n" for i, url in enumerate(urls)), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k in ("NEWSDESK_PARSE_PROCESSES",
                                                         "NEWSDESK_FETCH_WORKERS")}
    settings = Settings.from_env(env, feeds=feeds, data_dir=tmp, allow_private_networks=True)
    db = Database(settings.database_url)
    config = load_feeds(feeds)

    def a_pass() -> int:
        summary = run_pass(db, settings, config, every=True)
        if summary.failed:
            print(f"newsdesk: {summary.failed} failed, e.g. {summary.failures[:2]}",
                  file=sys.stderr)
        return summary.new

    return _two_passes(a_pass)


READER_PASS = ("import sys; from reader import make_reader; r = make_reader(sys.argv[1]); "
               "before = r.get_entry_counts().total; r.update_feeds(workers=8, scheduled=False); "
               "print(r.get_entry_counts().total - before); r.close()")


def _process(command: list[str], env: dict[str, str] | None = None) -> int:
    """Run `command` (one pass); the number it prints last is its new entries."""
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False,
                          timeout=3600)
    if done.returncode != 0:
        print(f"{command[:3]}: exit {done.returncode}: {done.stderr[-2000:]}", file=sys.stderr)
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "0"
    found = re.search(r"records: (\d+) new", last)
    return int(found.group(1)) if found else int(last) if last.isdigit() else 0


def run_reader_cli(urls: list[str], tmp: Path) -> list[dict[str, float]]:
    from reader import make_reader

    path = str(tmp / "reader.sqlite")
    reader = make_reader(path)
    for url in urls:
        reader.add_feed(url)
    reader.close()
    command = [sys.executable, "-c", READER_PASS, path]
    return _two_passes(lambda: _process(command))


def run_newsdesk_cli(urls: list[str], tmp: Path) -> list[dict[str, float]]:
    feeds = tmp / "feeds"
    feeds.mkdir()
    for name in ("topics.yaml", "providers.yaml"):
        (feeds / name).write_text((ROOT / "feeds" / name).read_text(encoding="utf-8"),
                                  encoding="utf-8")
    (feeds / "sources.yaml").write_text("sources:\n" + "".join(
        f"  - {{name: farm-{i}, url: '{url}'}}\n" for i, url in enumerate(urls)), encoding="utf-8")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("NEWSDESK_") or k in ("NEWSDESK_PARSE_PROCESSES",
                                                     "NEWSDESK_FETCH_WORKERS")}
    env.update(NEWSDESK_DATA_DIR=str(tmp), NEWSDESK_FEEDS=str(feeds),
               NEWSDESK_ALLOW_PRIVATE_NETWORKS="1", NEWSDESK_SECRET_KEY="bench-ingest-key",
               NEWSDESK_LOG_LEVEL="WARNING")
    command = [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv.pop(1)); "
               "sys.argv[0] = 'newsdesk'; from app.cli import run; sys.exit(run())",
               str(ROOT), "fetch", "--all"]
    return _two_passes(lambda: _process(command, env))


def contender_main(name: str, base: str, sources: int, via_cli: bool = False,
                   farm: str = "plain") -> None:
    urls = [f"{base}/farm/{i}.xml" for i in range(sources)]
    if farm == "mixed":
        import httpx

        httpx.get(f"{base}/farm/generation/0").raise_for_status()     # a fresh farm
        BETWEEN.append(lambda: httpx.get(f"{base}/farm/generation/1").raise_for_status())
    with tempfile.TemporaryDirectory() as tmp:
        if name == "bare":
            result = run_bare(urls)
        elif name == "reader":
            result = (run_reader_cli if via_cli else run_reader)(urls, Path(tmp))
        else:
            result = (run_newsdesk_cli if via_cli else run_newsdesk)(urls, Path(tmp))
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sources", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--only", default="bare,reader,newsdesk")
    parser.add_argument("--via-cli", action="store_true",
                        help="time each pass as a whole process, as a user runs it")
    parser.add_argument("--farm", choices=("plain", "mixed"), default="plain",
                        help="plain: RSS of short items, all 304 on the second pass; mixed: "
                             "RSS/Atom/JSON Feed with long HTML, a quarter changing between passes")
    parser.add_argument("--contender", help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.contender:
        contender_main(args.contender, args.base, args.sources, args.via_cli, args.farm)
        return

    ctx = mp.get_context("spawn")
    ports, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=serve_farm, args=(args.entries, ports, stop, args.farm),
                         daemon=True)
    server.start()
    base = f"http://127.0.0.1:{ports.get(timeout=30)}"
    print(f"farm ({args.farm}): {args.sources} sources x {args.entries} entries at {base}; "
          f"{'each pass a whole process (--via-cli); ' if args.via_cli else ''}"
          f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}")
    results: dict[str, list[dict[str, float]]] = {}
    try:
        for name in args.only.split(","):
            if name == "reader":
                try:
                    import reader  # noqa: F401
                except ImportError:
                    print("reader: not installed (pip install -e '.[bench]'); skipped")
                    continue
            out = subprocess.run(
                [sys.executable, __file__, "--contender", name, "--base", base,
                 "--sources", str(args.sources), "--entries", str(args.entries),
                 "--farm", args.farm, *(["--via-cli"] if args.via_cli else [])],
                capture_output=True, text=True, check=False, timeout=3600)
            if out.returncode != 0:
                print(f"{name}: failed\n{out.stderr[-2000:]}")
                continue
            results[name] = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        stop.set()
        server.join(timeout=10)

    n = args.sources
    print(f"\n{'contender':<10} {'pass':<7} {'wall s':>8} {'entries':>8} {'entries/s':>10} "
          f"{'sources/s':>10} {'CPU s/src':>10} {'peak MB':>8}")
    for name, passes in results.items():
        for label, p in zip(("first", "second"), passes, strict=True):
            print(f"{name:<10} {label:<7} {p['wall']:>8.2f} {int(p['entries']):>8} "
                  f"{p['entries'] / p['wall']:>10.0f} {n / p['wall']:>10.0f} "
                  f"{p['cpu'] / n * 1000:>8.2f}ms {p['rss_kb'] / 1024:>8.0f}")
    ours = results.get("newsdesk")
    if ours:
        print()
        for base_name in ("bare", "reader"):
            other = results.get(base_name)
            if not other:
                continue
            first = (ours[0]["entries"] / ours[0]["wall"]) / max(
                other[0]["entries"] / other[0]["wall"], 1e-9)
            second = other[1]["wall"] / ours[1]["wall"]
            print(f"newsdesk vs {base_name}: first pass {first:.2f}x its entries/s; "
                  f"second pass {second:.2f}x its sources/s")
        print("targets vs reader: >= 1.5x entries/s (first pass), >= 2x sources/s (second)")


if __name__ == "__main__":
    main()
