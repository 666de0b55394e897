"""`newsdesk fetch` and `newsdesk worker` as a user runs them."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from app.store.db import Database
from app.store.repository import RecordRepository
from tests.feedserver import FeedServer, farm_route
from tests.test_farm import NEWSDESK, ROOT, env_for, newsdesk, write_feeds


def test_worker_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'nd.db'}"
    with FeedServer() as server:
        server.prefixes["/farm/"] = farm_route(5)
        feeds = write_feeds(tmp_path / "feeds", [server.url(f"/farm/{i}.xml") for i in range(3)])
        env = env_for(tmp_path, db_url, feeds)
        env["NEWSDESK_LOG_LEVEL"] = "INFO"
        worker = subprocess.Popen([*NEWSDESK, "worker", "--tick", "1"], env=env, cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            db = Database(db_url)
            deadline = time.monotonic() + 60
            count = 0
            while count < 15 and time.monotonic() < deadline:
                time.sleep(0.2)
                try:
                    with db.session() as session:
                        count = RecordRepository(session).count()
                except Exception:  # noqa: BLE001 - not migrated yet
                    count = 0
            db.dispose()
            assert count == 15
            worker.send_signal(signal.SIGTERM)
            _, err = worker.communicate(timeout=30)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.communicate()
    assert worker.returncode == 0, err
    assert "sources: 3 fetched" in err and "worker stopped" in err


def test_fetch_names_an_unknown_source_and_a_broken_feeds_file(tmp_path: Path) -> None:
    feeds = write_feeds(tmp_path / "feeds", ["https://a.example/feed"])
    env = env_for(tmp_path, f"sqlite:///{tmp_path / 'nd.db'}", feeds)
    result = newsdesk(env, "fetch", "--source", "nope")
    assert result.returncode != 0 and "no source named 'nope'" in result.stderr
    (feeds / "sources.yaml").write_text("sources:\n  - name: x\n")
    result = newsdesk(env, "fetch")
    assert result.returncode != 0
    assert "sources.yaml" in result.stderr and "sources[0].url" in result.stderr
