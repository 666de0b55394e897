"""The development set of real records (bench/data/devset): big enough, traceable to where each
record came from, and free of the records kept back to measure Newsdesk independently."""

from __future__ import annotations

import json
import sys

from tests.conftest import ROOT, shared_path

sys.path.insert(0, str(ROOT / "bench"))

import devset


def test_the_set_holds_500_real_records_with_their_origin() -> None:
    lines = [json.loads(line) for line in devset.DATA.read_text(encoding="utf-8").splitlines()
             if line.strip()]
    assert len(lines) >= 500
    assert all(r["path"].startswith(("_news/", "_archive/_news/")) and len(r["commit"]) == 40
               for r in lines)
    assert len({r["path"] for r in lines}) == len(lines)
    records = devset.load()
    assert len(records) == len(lines)
    assert sum(1 for r in records if r.related_urls) >= 300
    assert sum(1 for r in records if r.record.published is True) >= 100


def test_no_held_out_record_is_in_the_set() -> None:
    held = shared_path("format", "HELD-OUT.txt")
    kept_back = {line.strip() for line in held.read_text(encoding="utf-8").splitlines()
                 if line.strip() and not line.startswith("#")}
    assert kept_back
    assert not kept_back & {r.path for r in devset.load()}


def test_stories_stay_in_one_part() -> None:
    records = devset.load()
    part = {r.url: r.part for r in records}
    assert {"tune", "test"} == set(part.values())
    assert all(part[u] == r.part for r in records for u in r.related_urls if u in part)
    assert [r.part for r in devset.load()] == [r.part for r in records]     # stable
