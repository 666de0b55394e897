"""Benchmark: hostile text (issue 15), beside named baselines in the same run.

    .venv/bin/python bench/hostile.py [--mb MB] [--database-url URL]

1. seconds per MB of `clean_text` on plain text and on text of `<`, beside
   `regex_clean_text` (bench/clean_text.py: the regular expressions it was until issue 13,
   quadratic on `<`, so its input stops growing after --budget seconds);
2. seconds per MB of the record-body render (`render_markdown`: Markdown, then nh3) on plain
   text, on `<`, and on nested `<div>`, beside `baseline_render` (the render before issue 15's
   depth check, kept here: nh3 is quadratic in the nesting depth);
3. the 5xx count over the hostile requests of tests/test_hostile_text.py (every form field
   and query parameter of every route, times NUL, control characters, 300 KB of `<`), on
   SQLite, and on PostgreSQL when --database-url is given.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import nh3  # noqa: E402
from clean_text import regex_clean_text  # noqa: E402
from markupsafe import Markup  # noqa: E402

from app.pipeline.normalize import clean_text  # noqa: E402
from app.web import markup  # noqa: E402

MB = 1024 * 1024


def baseline_render(text: str) -> Markup:
    """render_markdown as it was before issue 15: no nesting check."""
    html = markup._shift_headings(markup._markdown().render(text))
    return Markup(nh3.clean(html, tags=markup.ALLOWED_TAGS,
                            attributes=markup.ALLOWED_ATTRIBUTES,
                            url_schemes=markup.URL_SCHEMES,
                            link_rel="nofollow noopener noreferrer"))


def newsdesk_render(text: str) -> Markup:
    return markup.render_markdown.__wrapped__(text)   # without the cache


def per_mb(function: Callable[[str], object], unit: str, mb: float, budget: float) -> str:
    """Seconds per MB at `mb` MB; sizes double from 16 KB, and a function whose run takes
    longer than `budget` seconds stops there (its figure then names the size reached)."""
    kb, top = 16, int(mb * 1024)
    while True:
        text = unit * (kb * 1024 // len(unit))
        start = time.perf_counter()
        function(text)
        took = time.perf_counter() - start
        if kb >= top or took > budget:
            mark = "" if kb >= top else f" (at {kb} KB)"
            return f"{took / (len(text) / MB):9.3f}{mark}"
        kb = min(kb * 2, top)


def run_text(mb: float, budget: float) -> None:
    shapes = {"plain text": "news text ", "'<'": "<", "nested '<div>'": "<div>", "'!['": "!["}
    print(f"seconds per MB (inputs of {mb:g} MB; a function over {budget:g} s stops at a "
          "smaller one)")
    print(f"  {'function':<34} " + " ".join(f"{name:>22}" for name in shapes))
    for label, function, names in (
            ("regex_clean_text (baseline)", regex_clean_text, shapes),
            ("clean_text (newsdesk)", clean_text, shapes),
            ("baseline_render (before issue 15)", baseline_render, shapes),
            ("render_markdown (newsdesk)", newsdesk_render, shapes)):
        figures = [per_mb(function, shapes[n], mb, budget) for n in names]
        print(f"  {label:<34} " + " ".join(f"{f:>22}" for f in figures))


def run_requests(database_url: str | None) -> None:
    from app.errors import AuthError
    from app.store.content import import_paths
    from app.store.db import Database
    from tests.editor_fixtures import Clock, EditorClient, add_user, make_app
    from tests.test_hostile_text import FORMS, PAGES, fill

    values = {"NUL": "a\x00b", "controls": "a\x01\x0b\ufffeb", "300 KB of '<'": "<" * 300_000}
    for label, url in (("SQLite", None), ("PostgreSQL", database_url)):
        if label == "PostgreSQL" and not url:
            print("PostgreSQL: not measured (no --database-url)")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            db = Database(url or f"sqlite:///{tmp}/newsdesk.db")
            clock = Clock(datetime(2026, 11, 21, 12, 0, tzinfo=UTC))
            import_paths(db, [ROOT / "tests" / "data" / "records"], now=clock.now)
            with contextlib.suppress(AuthError):       # a PostgreSQL database used before
                add_user(db, "alice", now=clock.now)
            app = make_app(db, Path(tmp), clock)
            app.config["PROPAGATE_EXCEPTIONS"] = False
            client = EditorClient(app.test_client())
            client.login("alice")
            cases = fives = 0
            for value in values.values():
                for path, fields in FORMS:
                    cases += 1
                    fives += client.post(path, fill(fields, value)).status_code >= 500
                for page in PAGES:
                    cases += 1
                    fives += client.get(page.replace("{v}", quote(value))).status_code >= 500
            for path in ("/feed.xml", "/atom.xml", "/feed.json", "/"):
                cases += 1
                fives += client.get(path).status_code >= 500
            db.dispose()
        print(f"{label}: {cases} hostile requests, {fives} answered 5xx")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=1.0, help="input size (MB)")
    parser.add_argument("--budget", type=float, default=20.0,
                        help="stop growing a function's input after a run this long (s)")
    parser.add_argument("--database-url", default=None, help="PostgreSQL to measure too")
    args = parser.parse_args()
    run_text(args.mb, args.budget)
    run_requests(args.database_url)


if __name__ == "__main__":
    main()
