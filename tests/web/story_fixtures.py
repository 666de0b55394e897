"""Three paraphrased reports of one story from three publishers (issue 17), and the judge's
own relate and heat passes over them, so that the site sees what the pipeline leaves."""

from __future__ import annotations

from datetime import datetime, timedelta

from app.pipeline.stories import recompute_heat, relate_records
from app.record import Provider, Record
from app.store.db import Database
from app.store.repository import RecordRepository

REPORTS = [
    ("statnews.com", "STAT", 80, 0,
     "Mayo Clinic AI model predicts sepsis hours before doctors in hospital trial",
     "A machine learning model at Mayo Clinic predicted sepsis in hospital patients hours "
     "before clinicians did, in a trial across three hospitals."),
    ("fiercehealthcare.com", "Fierce Healthcare", 70, 40,
     "Mayo Clinic trial: AI model flags sepsis in hospital patients hours before doctors",
     "In a three-hospital trial, Mayo Clinic's machine learning model flagged sepsis in "
     "patients hours before doctors recognised it."),
    ("healthcareitnews.com", "Healthcare IT News", 60, 90,
     "Hospital trial finds Mayo Clinic AI model predicts sepsis hours earlier than doctors",
     "Mayo Clinic reports its machine learning model predicted sepsis hours earlier than "
     "doctors in a hospital trial of patients."),
]


def sepsis_story(db: Database, now: datetime, topic: str = "AI in Healthcare") -> list[Record]:
    """Store the three reports (published an hour ago, minutes apart), then relate them and
    compute heat as the judge run does; returns them as stored, lead first."""
    records = []
    for domain, name, quality, minutes, title, excerpt in REPORTS:
        slug = title.lower().replace(" ", "-").replace(":", "")[:60]
        records.append(Record(
            title=title, excerpt=excerpt, type="article", quality=quality, published=True,
            published_at=now - timedelta(hours=1) + timedelta(minutes=minutes),
            web_url=f"https://www.{domain}/2026/11/{slug}",
            original_url=f"https://www.{domain}/2026/11/{slug}",
            provider=Provider(name=name, domain=domain), topics=(topic, "AI")))
    with db.session() as session:
        repo = RecordRepository(session)
        for record in records:
            repo.save(record, now=now)
    relate_records(db, [r.id for r in records], now)
    recompute_heat(db, now)
    with db.session() as session:
        stored = RecordRepository(session).get_many([r.id for r in records])
    by_id = {r.id: r for r in stored}
    return [by_id[r.id] for r in records]
