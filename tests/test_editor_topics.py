"""Topic rules on the editor side: what is on the screen is what is saved, a rule of feeds/ keeps
the conditions the form does not show, the preview shows records a rule would drop as well as
add, and a saved rule can be applied to the records already stored (never to topics an editor
set by hand)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from app.editors import ConfiguredSource, SourceHealth
from app.record import Record
from app.sources import FeedConfig, Topic
from app.sources import TopicRule as FeedRule
from app.store.db import Database
from app.store.editor_settings import EditorSettingsRepository
from app.store.editorial import EditorialRepository
from app.topicrules import TopicRule
from tests.editor_fixtures import QUEUED_2, Clock, EditorClient, make_app

IMAGING = TopicRule("Medical Imaging", ("radiolog*", "MRI", "imaging"),
                    all_of=(("AI", "deep learning", "machine learning"),))


class FakeCatalog:
    def configured(self) -> list[ConfiguredSource]:
        return []

    def health(self) -> Mapping[str, SourceHealth]:
        return {}

    def topic_rules(self) -> Mapping[str, TopicRule]:
        return {"Sepsis": TopicRule("Sepsis", ("sepsis", "septic shock")),
                "Medical Imaging": IMAGING}


@pytest.fixture
def app(db: Database, tmp_path: Path, clock: Clock, editor_app: Flask) -> Flask:
    return make_app(db, tmp_path, clock, NEWSDESK_SOURCE_CATALOG=FakeCatalog())


@pytest.fixture
def ed(app: Flask) -> EditorClient:
    c = EditorClient(app.test_client())
    assert c.login("alice").status_code == 302
    return c


# --------------------------------------------------------------------------- a page's forms

@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    textareas: set[str] = field(default_factory=set)
    buttons: list[tuple[str, str, str]] = field(default_factory=list)   # name, value, text


class Forms(HTMLParser):
    """The forms of a page as a browser sees them: which fields belong to which form."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._in: Form | None = None
        self._textarea: str | None = None
        self._button: tuple[str, str] | None = None
        self._text: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._in = Form(a.get("action", ""), a.get("method", "get").lower())
            self.forms.append(self._in)
        elif self._in is None:
            return
        elif tag == "input" and a.get("name"):
            self._in.fields[a["name"]] = a.get("value", "")
        elif tag == "textarea":
            self._textarea, self._text = a["name"], []
        elif tag == "button":
            self._button, self._text = (a.get("name", ""), a.get("value", "")), []

    def handle_data(self, data: str) -> None:
        self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in = None
        elif tag == "textarea" and self._in is not None and self._textarea:
            self._in.fields[self._textarea] = "".join(self._text)
            self._in.textareas.add(self._textarea)
            self._textarea = None
        elif tag == "button" and self._in is not None and self._button:
            self._in.buttons.append((*self._button, "".join(self._text).strip()))
            self._button = None


def type_and_click(client: EditorClient, page: str, typed: dict[str, str],
                   button: str) -> TestResponse:
    """Type into the page's text areas (wherever they are), then click the button labelled
    `button`: what a browser sends is that button's form, as it stands."""
    forms = Forms(page).forms
    for name, value in typed.items():
        [box] = [f for f in forms if name in f.textareas]
        box.fields[name] = value
    [(form, pressed)] = [(f, b) for f in forms for b in f.buttons if b[2] == button]
    data = dict(form.fields)
    if pressed[0]:
        data[pressed[0]] = pressed[1]
    if form.method == "post":
        return client.client.post(form.action, data=data)
    return client.client.get(form.action, query_string=data)


def saved_rules(db: Database) -> dict[str, TopicRule]:
    with db.session() as s:
        return EditorSettingsRepository(s).topic_rules()


def records(db: Database) -> dict[str, Record]:
    """The stored records by the start of their title."""
    with db.session() as s:
        return {r.title[:30]: r for r in EditorialRepository(s).recent_records(1000)}


# --------------------------------------------------------------------------- saving

def test_saving_without_testing_saves_what_was_typed(ed: EditorClient, db: Database) -> None:
    page = ed.get("/editor/topics/rule?topic=Sepsis").get_data(as_text=True)
    response = type_and_click(ed, page, {"phrases": "sepsis\nsepticemia\nseptic shock"},
                              "Save this rule")
    assert response.status_code == 302
    assert saved_rules(db)["Sepsis"].phrases == ("sepsis", "septicemia", "septic shock")
    shown = ed.get("/editor/topics/rule?topic=Sepsis").get_data(as_text=True)
    assert "Saved the rule of Sepsis" in shown and "septicemia" in shown

    # after a test, what is typed next is what is saved too
    tried = type_and_click(ed, shown, {"phrases": "sepsis"}, "Test against recent records")
    assert tried.status_code == 200 and 'id="match-count"' in tried.get_data(as_text=True)
    assert saved_rules(db)["Sepsis"].phrases == ("sepsis", "septicemia", "septic shock")
    type_and_click(ed, tried.get_data(as_text=True), {"exclude": "veterinary"}, "Save this rule")
    assert saved_rules(db)["Sepsis"] == TopicRule("Sepsis", ("sepsis",), ("veterinary",))


def test_saving_a_rule_of_feeds_keeps_the_conditions_the_form_does_not_show(
        ed: EditorClient, db: Database) -> None:
    page = ed.get("/editor/topics/rule?topic=Medical+Imaging").get_data(as_text=True)
    assert "requires one of AI · deep learning · machine learning" in page
    type_and_click(ed, page, {"phrases": "radiolog*\nMRI\nimaging\nultrasound"},
                   "Save this rule")
    rule = saved_rules(db)["Medical Imaging"]
    assert rule.phrases == ("radiolog*", "MRI", "imaging", "ultrasound")
    assert rule.all_of == IMAGING.all_of
    assert not rule.matches("Hospital opens a new MRI suite")      # no AI: not this topic
    assert rule.matches("Deep learning reads MRI scans")

    # what ingestion applies is the saved rule, `all` group included
    from app.pipeline.classify import Classifier
    from app.pipeline.overrides import apply_editor_changes

    config = FeedConfig(topics=(Topic("Medical Imaging", "medical-imaging", None,
                                      FeedRule(any=("radiolog*",))),))
    plan = apply_editor_changes(config, [], saved_rules(db))
    classify = Classifier(plan.config.topics).classify
    assert classify(title="Hospital opens a new MRI suite") == ()
    assert classify(title="Machine learning speeds up MRI") == ("Medical Imaging",)

    # saved again from the page of the editor's rule, the group stays
    again = ed.get("/editor/topics/rule?topic=Medical+Imaging").get_data(as_text=True)
    type_and_click(ed, again, {"phrases": "radiolog*\nMRI"}, "Save this rule")
    assert saved_rules(db)["Medical Imaging"].all_of == IMAGING.all_of


# --------------------------------------------------------------------------- the preview

def test_the_preview_lists_records_the_rule_would_drop_as_well_as_add(
        ed: EditorClient, db: Database) -> None:
    stored = records(db)
    tried = ed.get("/editor/topics/rule?topic=Regulation&phrases=FDA").get_data(as_text=True)
    assert tried.count('id="drops"') == 1
    drops = tried.split('id="drops"')[1].split("</ol>")[0]
    dropped = stored["UK regulator opens AI Airlock "]        # Regulation, no FDA in it
    assert f'data-id="{dropped.id}"' in drops and "would be removed from this topic" in drops
    kept = stored["FDA clears AI tool that flags "]           # Regulation, and FDA
    assert kept.id not in drops
    expected_drops = sum(1 for r in stored.values()
                         if "Regulation" in r.topics and "FDA" not in f"{r.title}\n{r.excerpt}")
    count = re.search(r'<b id="drop-count">(\d+)</b>', tried)
    assert count and int(count.group(1)) == expected_drops >= 5


# --------------------------------------------------------------------------- applying

def test_applying_a_saved_rule_reclassifies_stored_records_but_not_hand_set_topics(
        ed: EditorClient, db: Database) -> None:
    before = records(db)
    by_hand = before["Health systems weigh generativ"]
    assert by_hand.id == QUEUED_2 and "Regulation" not in by_hand.topics
    # an editor sets this record's topics by hand (Regulation, though it has no FDA)
    page = ed.get(f"/editor/records/{QUEUED_2}").get_data(as_text=True)
    version = re.search(r'name="version" value="([0-9a-f]+)"', page)
    assert version
    assert ed.post(f"/editor/records/{QUEUED_2}", {
        "title": by_hand.title, "excerpt": by_hand.excerpt, "notes": "",
        "topics": "AI in Healthcare\nRegulation", "version": version.group(1)}).status_code == 302
    assert ed.post("/editor/topics/rule", {"topic": "Regulation", "phrases": "FDA",
                                           "op": "save"}).status_code == 302

    # without the CSRF token nothing happens
    refused = ed.post("/editor/topics/apply", {"topic": "Regulation"}, csrf=False)
    assert refused.status_code == 400
    assert records(db)["UK regulator opens AI Airlock "].topics == \
        before["UK regulator opens AI Airlock "].topics

    page = ed.get("/editor/topics/rule?topic=Regulation").get_data(as_text=True)
    response = type_and_click(ed, page, {}, "Apply the saved rule to stored records")
    assert response.status_code == 302
    after = records(db)
    fda = {k for k, r in after.items() if "FDA" in f"{r.title}\n{r.excerpt}"}
    added = {k for k in fda if "Regulation" not in before[k].topics}
    removed = {k for k, r in before.items()
               if "Regulation" in r.topics and k not in fda and r.id != QUEUED_2}
    assert removed and "UK regulator opens AI Airlock " in removed
    for key, record in after.items():
        if record.id == QUEUED_2:                       # set by hand: left as it is
            assert record.topics == ("AI in Healthcare", "Regulation")
        else:
            assert ("Regulation" in record.topics) == (key in fda), key
            others = [t for t in before[key].topics if t != "Regulation"]
            assert [t for t in record.topics if t != "Regulation"] == others, key
    message = ed.get("/editor/topics/rule?topic=Regulation").get_data(as_text=True)
    changed = len(added) + len(removed)
    assert (f"{changed} records changed ({len(added)} added to the topic, "
            f"{len(removed)} removed from it)") in message
    assert "Left 1 record alone: an editor set its topics." in message
    with db.session() as s:
        entries, _ = EditorialRepository(s).audit_entries(target="Regulation")
    entry = entries[0]
    assert (entry.actor, entry.action) == ("alice", "topic_rule_apply")
    assert entry.details["added"] == len(added) and entry.details["removed"] == len(removed)
    assert entry.details["kept_by_hand"] == 1 and entry.details["phrases"] == ["FDA"]
    assert sorted(entry.details["ids"]) == sorted(after[k].id for k in added | removed)

    # applying again changes nothing
    assert ed.post("/editor/topics/apply", {"topic": "Regulation"}).status_code == 302
    assert records(db) == after
    assert "0 records changed" in ed.get("/editor/topics/rule?topic=Regulation").get_data(
        as_text=True)


def test_a_topic_without_a_rule_cannot_be_applied(ed: EditorClient, db: Database) -> None:
    before = records(db)
    response = ed.post("/editor/topics/apply", {"topic": "No such topic"})
    assert response.status_code == 404 and "has no rule" in response.get_data(as_text=True)
    assert records(db) == before
