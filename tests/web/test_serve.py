"""`newsdesk serve`, `newsdesk run` and gunicorn really serve the site (loopback, port 0)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import NOW, ROOT
from tests.web.conftest import RECORDS, corpus

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSDESK_")}
    env.update(NEWSDESK_DATA_DIR=str(tmp_path / "var"), NEWSDESK_LOG_LEVEL="WARNING", **extra)
    return env


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextmanager
def running(args: list[str], env: dict[str, str], pattern: str,
            stream: str = "stdout") -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Start a server process and yield its base URL once it says where it listens; the
    other output stream goes to a file so that the process never blocks on a full pipe."""
    import tempfile

    with tempfile.TemporaryFile("w+") as other:
        pipes = {"stdout": subprocess.PIPE, "stderr": other} if stream == "stdout" else {
            "stdout": other, "stderr": subprocess.PIPE}
        # a shell that started the tests in the background left SIGINT ignored, and a child
        # inherits that: give the server Ctrl-C's default meaning, as a terminal would
        with subprocess.Popen(args, cwd=ROOT, env=env, text=True, **pipes,
                              preexec_fn=_default_sigint) as proc:
            try:
                source = proc.stdout if stream == "stdout" else proc.stderr
                assert source is not None
                seen: list[str] = []
                for line in source:
                    seen.append(line)
                    found = re.search(pattern, line)
                    if found:
                        yield f"http://127.0.0.1:{found.group(1)}", proc
                        return
                other.seek(0)
                raise AssertionError(f"the server did not start: {''.join(seen)[-2000:]}"
                                     f"{other.read()[-2000:]}")
            finally:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT if stream == "stdout" else signal.SIGTERM)
                    try:
                        proc.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()


def test_newsdesk_run_imports_content_and_serves_the_site(tmp_path: Path) -> None:
    env = _env(tmp_path, NEWSDESK_CONTENT_DIR=str(RECORDS))
    with running([str(BIN / "newsdesk"), "run", "--host", "127.0.0.1", "--port", "0"], env,
                 r"serving on http://127\.0\.0\.1:(\d+)/ with the scheduler") as (url, proc):
        html = httpx.get(url + "/").text
        public = [r for r in corpus() if r.published]
        hottest = max(public, key=lambda r: r.heat or -1)
        assert hottest.id in html
        assert httpx.get(url + "/healthz").json()["status"] == "ok"
        feed = httpx.get(url + "/feed.xml", headers={"Accept-Encoding": "gzip"})
        assert feed.headers["Content-Encoding"] == "gzip" and feed.status_code == 200
    assert proc.returncode == 0


def test_newsdesk_serve_runs_the_site_alone(tmp_path: Path) -> None:
    with contextlib.ExitStack() as stack:
        taken = stack.enter_context(socket.socket())     # the default port busy, as it often is
        with contextlib.suppress(OSError):
            taken.bind(("127.0.0.1", 8000))
            taken.listen()
        url, _proc = stack.enter_context(running(
            [str(BIN / "newsdesk"), "serve", "--port", "0"], _env(tmp_path),
            r"serving on http://127\.0\.0\.1:(\d+)/ \("))
        assert not url.endswith(":8000")                 # --port 0 is any free port
        response = httpx.get(url + "/")
        assert response.status_code == 200 and "No stories are published yet" in response.text
        assert httpx.get(url + "/nope").status_code == 404


def test_gunicorn_serves_create_app(tmp_path: Path) -> None:
    env = _env(tmp_path)
    subprocess.run([str(BIN / "newsdesk"), "import", str(RECORDS)], cwd=ROOT, env=env,
                   check=True, capture_output=True)
    args = [str(BIN / "gunicorn"), "-w", "2", "--preload", "-b", "127.0.0.1:0",
            "app:create_app()"]
    with running(args, env, r"Listening at: http://127\.0\.0\.1:(\d+)", "stderr") as (url, _):
        for _ in range(6):
            response = httpx.get(url + "/topics/ai/feed.xml")
            assert response.status_code == 200
            etag = response.headers["ETag"]
            assert httpx.get(url + "/topics/ai/feed.xml",
                             headers={"If-None-Match": etag}).status_code == 304


def test_the_shipped_content_folder_gives_a_living_site(db_url: str, tmp_path: Path) -> None:
    from app import create_app
    from app.store.content import import_paths
    from app.store.db import Database
    from tests.web.conftest import make_settings

    db = Database(db_url)
    try:
        report = import_paths(db, [ROOT / "content"], now=NOW)
        assert report.failed == 0 and report.new >= 20, report.errors
        client = create_app(make_settings(tmp_path), db).test_client()
        html = client.get("/").get_data(as_text=True)
        assert len(re.findall(r'href="/items/[0-9a-f]{16}/', html)) >= 10
        assert client.get("/topics/ai-in-healthcare/").status_code == 200
    finally:
        db.dispose()
