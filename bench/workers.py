"""Several workers on one PostgreSQL (issue 16): this checkout against a baseline checkout.

    python bench/workers.py [--baseline /tmp/base-workers] [--seconds 60] [--interval 10]

Per checkout, on a fresh schema and a loopback farm of 40 sources (interval --interval s):
three `newsdesk worker` for --seconds, then the feed requests per source per period, the
requests sooner than 0.9 x the interval after the previous one of the same source (early:
a second worker fetching what another just fetched), tracebacks in the logs; then one worker
killed with SIGKILL while it holds a source and the seconds until another fetches it
(takeover; gives up at 150 s); and the seconds a worker takes to exit after SIGTERM mid-fetch.
The baseline is made with `git worktree add /tmp/base-workers main` when missing.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from itertools import pairwise
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.feedserver import FeedServer, Reply, Request, farm_route  # noqa: E402

PG = os.environ.get("NEWSDESK_TEST_DATABASE_URL",
                    "postgresql+psycopg://postgres@127.0.0.1:5432/test_workers")


def schema_url() -> tuple[str, str]:
    name = f"b_{uuid.uuid4().hex[:10]}"
    with create_engine(PG, isolation_level="AUTOCOMMIT").connect() as c:
        c.execute(text(f'CREATE SCHEMA "{name}"'))
    return name, f"{PG}?options=-csearch_path%3D{name}"


def feeds(folder: Path, urls: list[str]) -> Path:
    folder.mkdir(parents=True)
    for name in ("topics.yaml", "providers.yaml"):
        (folder / name).write_text((ROOT / "tests/data/config" / name).read_text(
            encoding="utf-8"), encoding="utf-8")
    (folder / "sources.yaml").write_text("sources:\n" + "".join(
        f"  - {{name: farm-{i}, url: '{u}'}}\n" for i, u in enumerate(urls)), encoding="utf-8")
    return folder


def env(checkout: Path, url: str, folder: Path, **extra: str) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("NEWSDESK_")}
    e.update(NEWSDESK_DATABASE_URL=url, NEWSDESK_FEEDS=str(folder),
             NEWSDESK_DATA_DIR=str(folder.parent / "var"), NEWSDESK_ALLOW_PRIVATE_NETWORKS="1",
             NEWSDESK_ENRICH_INTERVAL="0", NEWSDESK_PARSE_PROCESSES="1",
             NEWSDESK_LOG_LEVEL="INFO", PYTHONPATH=str(checkout), **extra)
    return e


def worker(checkout: Path, e: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "from app.cli import run; run()", "worker",
                             "--tick", "1"], cwd=checkout, env=e,
                            stdout=subprocess.DEVNULL, stderr=log.open("wb"))


def scenario(checkout: Path, seconds: float, interval: int, tmp: Path) -> dict[str, float]:
    out: dict[str, float] = {}
    times: dict[str, list[float]] = defaultdict(list)
    farm = farm_route(3)

    def timed(request: Request) -> Reply:
        times[request.path].append(time.monotonic())
        return farm(request)

    with FeedServer() as server:
        server.prefixes["/farm/"] = timed
        _, url = schema_url()
        folder = feeds(tmp / "feeds", [server.url(f"/farm/{i}.xml") for i in range(40)])
        e = env(checkout, url, folder, NEWSDESK_FETCH_INTERVAL=str(interval),
                NEWSDESK_LEASE_TIMEOUT="30")
        logs = [tmp / f"w{i}.log" for i in range(3)]
        procs = [worker(checkout, e, log) for log in logs]
        time.sleep(seconds)
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        total = sum(len(v) for v in times.values())
        early = sum(1 for v in times.values() for a, b in pairwise(v)
                    if b - a < 0.9 * interval)
        out["requests"] = total
        out["requests per source per period"] = total / 40 / (seconds / interval)
        out["early fetches"] = early
        out["tracebacks"] = sum(log.read_text(encoding="utf-8", errors="replace")
                                .count("Traceback") for log in logs)

    # kill -9 of a worker holding a source; another takes it over
    stuck, release = threading.Event(), threading.Event()
    fetched: list[float] = []

    def hold(request: Request) -> Reply:
        if not stuck.is_set():
            stuck.set()
            release.wait(200)
        else:
            fetched.append(time.monotonic())
        return farm(request)

    with FeedServer() as server:
        server.prefixes["/held/"] = hold
        _, url = schema_url()
        folder = feeds(tmp / "feeds2", [server.url("/held/0.xml")])
        e = env(checkout, url, folder, NEWSDESK_FETCH_DEADLINE="300", NEWSDESK_FETCH_TIMEOUT="300")
        first = worker(checkout, e, tmp / "k1.log")
        while not stuck.wait(0.1):
            pass
        first.kill()
        killed = time.monotonic()
        second = worker(checkout, e, tmp / "k2.log")
        while not fetched and time.monotonic() - killed < 150:
            time.sleep(0.2)
        out["takeover seconds"] = (fetched[0] - killed) if fetched else float("inf")
        # SIGTERM while the second worker fetches a source that never answers in time
        stuck2 = threading.Event()

        def slow(_request: Request) -> Reply:
            stuck2.set()
            time.sleep(60)
            return Reply(200, b"")

        server.add("/slow.xml", slow)
        release.set()
        second.send_signal(signal.SIGTERM)
        second.wait(60)
        folder3 = feeds(tmp / "feeds3", [server.url("/slow.xml")])
        third = worker(checkout, env(checkout, url, folder3, NEWSDESK_FETCH_DEADLINE="120",
                                     NEWSDESK_FETCH_TIMEOUT="120"), tmp / "k3.log")
        stuck2.wait(60)
        t0 = time.monotonic()
        third.send_signal(signal.SIGTERM)
        try:
            third.wait(120)
        except subprocess.TimeoutExpired:
            third.kill()
        out["stop seconds mid-fetch"] = time.monotonic() - t0
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", default="/tmp/base-workers")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--interval", type=int, default=10)
    args = parser.parse_args()
    base = Path(args.baseline)
    if not base.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(base), "main"], cwd=ROOT,
                       check=True)
    import tempfile

    results = {}
    for name, checkout in (("baseline", base), ("this branch", ROOT)):
        with tempfile.TemporaryDirectory() as tmp:
            results[name] = scenario(checkout, args.seconds, args.interval, Path(tmp))
    print(f"3 workers, 40 sources, {args.seconds:g} s, interval {args.interval} s "
          f"(PostgreSQL {PG.rsplit('/', 1)[-1]})")
    for key in results["baseline"]:
        print(f"  {key:34} baseline {results['baseline'][key]:8.2f}   "
              f"this branch {results['this branch'][key]:8.2f}")


if __name__ == "__main__":
    main()
