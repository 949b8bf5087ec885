"""Batch prediction of character spans with a trained token-classification model.

:class:`SpanTagger` cuts every text into overlapping windows (so that nothing
is truncated, however long the article), runs the windows of many texts
through the model in length-sorted, dynamically padded batches, and decodes
each text's windows back into character spans with :mod:`inference.alignment`,
the same alignment that training uses. Spans carry exact offsets into the
original string, whole words only, sorted by start.

A run directory as training saves it needs neither transformers nor, for the
ONNX backend, torch: the tokenizer is read with the ``tokenizers`` library
(:mod:`inference.tokenizer`) and the torch backend's BERT is built from
``config.json`` and ``model.safetensors`` (:mod:`inference.bert`); other
directories are loaded by transformers (see :mod:`inference.model_dir`).
torch is imported when a torch model is loaded, not when this module is.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from frontlines.inference.alignment import (
    Words,
    check_tokenizer,
    decode_text,
    encode_texts,
    read_tokens,
    word_states,
)
from frontlines.inference.decoding import DECODINGS
from frontlines.inference.labels import ID2TAG
from frontlines.inference.model_dir import (
    check_device,
    check_positions,
    check_tags,
    default_device,
    load_tokenizer,
    load_torch_model,
    loading,
    run_windows,
)
from frontlines.inference.torch_forward import TorchForward

#: ``forward(input_ids, attention_mask, token_type_ids) -> probabilities``, all numpy,
#: shapes ``(batch, length)`` in and ``(batch, length, n_tags)`` out.
Forward = Callable[[np.ndarray, np.ndarray, "np.ndarray | None"], np.ndarray]

DEFAULT_STRIDE = 128
MAX_WINDOW = 512
BACKENDS = ("torch", "onnx")


class SpanTagger:
    """Tag texts with character spans: ``SpanTagger.from_pretrained(run_dir).predict(texts)``."""

    def __init__(
        self,
        tokenizer: Any,
        forward: Forward,
        max_length: int = MAX_WINDOW,
        stride: int = DEFAULT_STRIDE,
        use_token_type_ids: bool | None = None,
        streams: int = 1,
        batch_size: int = 8,
        decoding: str = "viterbi",
    ) -> None:
        check_tokenizer(tokenizer)
        if decoding not in DECODINGS:
            raise ValueError(f"unknown decoding {decoding!r}; expected one of {', '.join(DECODINGS)}")
        if streams < 1 or batch_size < 1:
            raise ValueError(f"streams ({streams}) and batch_size ({batch_size}) must be >= 1")
        specials = tokenizer.num_special_tokens_to_add(pair=False)
        if not 0 <= stride < max_length - specials:
            raise ValueError(f"stride ({stride}) must be >= 0 and < max_length ({max_length}) - {specials}")
        self.tokenizer = tokenizer
        self.forward = forward
        self.max_length = max_length
        self.stride = stride
        if use_token_type_ids is None:
            use_token_type_ids = "token_type_ids" in tokenizer.model_input_names
        self.use_token_type_ids = use_token_type_ids
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.streams = streams
        self.batch_size = batch_size  # predict's default
        #: The CPU matrix products chosen ("onednn" or "default"; None off the torch CPU backend) and the
        #: precision ("fp32" or "bf16"; None off the torch backend), so that a resumed run can ask for the same.
        self.linear_kernel: str | None = None
        self.precision: str | None = None
        self.decoding = decoding
        #: The run directory (for its event linker), set by :meth:`from_pretrained`.
        self.model_dir: Path | None = None
        #: The model directory's ``config.json`` as read by :meth:`from_pretrained` (the linker's trainer reads
        #: the encoder's depth from it).
        self.config: dict[str, Any] = {}
        self._linker: Any = None

    @classmethod
    def from_pretrained(
        cls,
        model_dir: str | Path,
        device: str | None = None,
        backend: str = "torch",
        num_threads: int | None = None,
        max_length: int | None = None,
        stride: int | None = None,
        onnx_file: str | Path | None = None,
        streams: int | None = None,
        linear_kernel: str = "auto",
        batch_size: int | None = None,
        decoding: str = "viterbi",
        precision: str = "auto",
        bf16_recheck: float | None = None,
    ) -> SpanTagger:
        """Load a run directory (model + tokenizer saved with ``save_pretrained``).

        ``max_length`` and ``stride`` default to the run's own windows
        (``data.max_length`` and ``data.stride`` of ``model_dir/config.yaml``,
        written by training), else to ``min(512, config.max_position_embeddings)``
        and 128 (a quarter of a shorter window);
        ``backend="onnx"`` runs an exported ONNX file (see
        :func:`inference.onnx_backend.export_onnx`), by default the int8 one if
        the directory has it; ``num_threads`` sets the CPU threads of either.

        ``streams`` batches run at once, each in its own thread with
        ``num_threads // streams`` CPU threads. The torch backend on a CPU
        defaults to 2: on the project's 2-core machine two single-threaded
        forward passes side by side ran 3-8% more tokens per second than one
        two-threaded pass (one's element-wise and single-threaded ops overlap
        the other's matrix products). ONNX Runtime and GPUs default to 1
        (ONNX Runtime was 13% slower with two streams). ``linear_kernel``
        picks the torch backend's CPU matrix products (see
        :func:`inference.kernels.use_fast_linear`), ``precision`` its
        precision (``auto``, ``fp32`` or ``bf16``, see :mod:`inference.precision`;
        bf16 runs the project's BERT natively in bf16, other models under
        autocast with the default kernels, see :class:`TorchForward`; ``bf16_recheck``
        is its fp32 re-check margin, default :data:`inference.torch_forward.RECHECK_MARGIN`,
        0 for none). ``batch_size`` is
        :meth:`predict`'s default: 8 full windows suit a CPU's caches (on
        the project's CPU, 8 ran 15% faster than 64), a GPU gets 64.
        """
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; expected one of {BACKENDS}")
        model_dir = Path(model_dir)
        config_file = model_dir / "config.json"
        if not config_file.is_file():
            raise FileNotFoundError(f"{model_dir}: not a model directory (no config.json)")
        with loading(config_file):
            config = json.loads(config_file.read_text(encoding="utf-8"))  # AutoConfig imports torch
        if not isinstance(config, dict):
            raise ValueError(f"{config_file}: not a model configuration (a JSON object)")
        check_tags(config.get("id2label"), str(config_file))
        tokenizer = load_tokenizer(model_dir)
        run_length, run_stride = run_windows(model_dir)
        if max_length is not None:
            check_positions(config, max_length, "max_length")
        elif run_length is not None:
            check_positions(config, run_length, f"{model_dir / 'config.yaml'}: data.max_length")
        if max_length is None:
            max_length = run_length or min(MAX_WINDOW, config.get("max_position_embeddings", MAX_WINDOW))
        if stride is None:
            stride = run_stride if run_stride is not None else min(DEFAULT_STRIDE, max_length // 4)
        if backend == "onnx":
            from frontlines.inference.onnx_backend import OnnxForward, default_onnx_file

            if precision not in ("auto", "fp32"):  # the ONNX file fixes its own precision
                raise ValueError(f"precision {precision!r}: the ONNX backend takes auto or fp32 (bf16 is torch's)")
            streams = 1 if streams is None else streams
            per_stream = max(1, num_threads // streams) if num_threads and streams > 0 else None
            path = Path(onnx_file) if onnx_file else default_onnx_file(model_dir)
            if not path.is_file():
                raise FileNotFoundError(f"{path}: no such ONNX file")
            with loading(path):
                forward: Forward = OnnxForward(path, num_threads=per_stream)
            use_types = forward.uses_token_type_ids
        else:
            import torch

            if num_threads:
                torch.set_num_threads(num_threads)
            device = device or default_device()
            check_device(device)
            if streams is None:
                streams = 2 if torch.device(device).type == "cpu" and torch.get_num_threads() >= 2 else 1
            from frontlines.inference.precision import choose_precision

            chosen, _ = choose_precision(precision, str(torch.device(device)), model_dir)
            forward = TorchForward(load_torch_model(model_dir, config), device, chosen, linear_kernel, bf16_recheck)
            kernel = forward.linear_kernel
            use_types = False  # BERT-style models default to all-zero token types
            if batch_size is None and torch.device(device).type != "cpu":
                batch_size = 64
        tagger = cls(tokenizer, forward, max_length=max_length, stride=stride, use_token_type_ids=use_types,
                     streams=streams, batch_size=batch_size or 8, decoding=decoding)
        tagger.linear_kernel = kernel if backend == "torch" else None
        tagger.precision = forward.precision if isinstance(forward, TorchForward) else None
        tagger.model_dir = model_dir
        tagger.config = config
        return tagger

    def predict(
        self, texts: Sequence[str], batch_size: int | None = None, chunk_size: int = 256
    ) -> list[list[dict[str, Any]]]:
        """Spans of every text, in input order: ``{"start", "end", "label", "text", "score"}``.

        Texts are sorted by length and taken ``chunk_size`` at a time (which
        bounds memory); each chunk is tokenized at once and its windows run
        in batches of ``batch_size`` (default: the tagger's), longest first,
        padded to the batch's longest window (shorter windows are packed more
        to a batch, see :meth:`_run_windows`), ``streams`` batches at a time.
        """
        results: list[list[dict[str, Any]]] = [[] for _ in texts]
        for i, text, decoded, _ in self._tag(texts, batch_size, chunk_size, states=False):
            results[i] = [_span_dict(text, s, score) for s, score in decoded]
        return results

    def predict_events(
        self, texts: Sequence[str], batch_size: int | None = None, chunk_size: int = 256, linker: str = "auto",
        with_states: bool = False,
    ) -> list[dict[str, Any]]:
        """Spans and event records of every text: ``{"spans": [...], "events": [...]}`` in input order.

        ``linker``: ``"model"`` (the run's learned linker, :mod:`inference.linker`),
        ``"rules"`` (:mod:`inference.event_rules`) or ``"auto"`` (the model
        if the run has one, else the rules). The linker reads the same
        forward pass as the spans (the hidden states of its ``state_layer``), so events cost
        no second pass of the encoder. ``with_states`` also returns each text's
        word states and words (``"states"``, ``"words"``), for evaluation.
        """
        from frontlines.inference.event_rules import rule_events
        from frontlines.inference.events import event_record, sentences

        learned = self.load_linker(linker)
        results: list[dict[str, Any]] = [{} for _ in texts]
        want_states = learned is not None or with_states
        layer = learned.state_layer if learned is not None else -1
        for i, text, decoded, states in self._tag(texts, batch_size, chunk_size, states=want_states, layer=layer):
            spans = [s for s, _ in decoded]
            words = Words.of(text).pairs() if want_states else []
            events = learned.link(text, spans, states, words) if learned is not None else rule_events(text, spans)
            bounds = sentences(text)
            results[i] = {
                "spans": [_span_dict(text, s, score) for s, score in decoded],
                "events": [event_record(text, ev, score, bounds) for ev, score in events],
            }
            if with_states:
                results[i].update(states=states, words=words)
        return results

    def word_states(self, texts: Sequence[str], batch_size: int | None = None, chunk_size: int = 256,
                    layer: int = -1) -> list[tuple[np.ndarray, list[tuple[int, int]]]]:
        """Each text's word states ``(n_words, hidden)`` and word offsets: the linker's features. ``layer`` indexes
        the model's hidden states (0 the embeddings, -1 the last layer)."""
        results: list[Any] = [None for _ in texts]
        for i, text, _, states in self._tag(texts, batch_size, chunk_size, states=True, layer=layer):
            results[i] = (states, Words.of(text).pairs())
        return results

    def load_linker(self, linker: str = "auto") -> Any:
        """The run's learned linker (``"model"``, or ``"auto"`` where the run has one), or None for the rules."""
        if linker not in ("auto", "model", "rules"):
            raise ValueError(f"unknown linker {linker!r}; expected auto, model or rules")
        if linker == "rules":
            return None
        from frontlines.inference.linker import LINKER_DIR, EventLinker

        if self._linker is None:
            if self.model_dir is None or not (self.model_dir / LINKER_DIR).is_dir():
                if linker == "model":
                    raise FileNotFoundError(f"{self.model_dir}: the run has no event linker ({LINKER_DIR}/); "
                                            "train one with python -m training.train_linker, or use the rules")
                return None
            self._linker = EventLinker.from_dir(self.model_dir)
        state_output = getattr(self.forward, "state_output", None)  # the onnx backend: is the layer exported?
        if not getattr(self.forward, "has_states", hasattr(self.forward, "states")) or (
                state_output is not None and state_output(self._linker.state_layer) is None):
            if linker == "model":
                layer = self._linker.state_layer
                raise ValueError(f"this backend gives no hidden states of {'the last layer' if layer == -1 else f'layer {layer}'}"
                                 ", which the learned event linker needs (re-export the ONNX file with export-onnx, "
                                 "or use --events rules)")
            return None
        return self._linker

    def _tag(self, texts: Sequence[str], batch_size: int | None, chunk_size: int, states: bool,
             layer: int = -1) -> Iterator[tuple[int, str, list[tuple[Any, float]], np.ndarray | None]]:
        """``(input index, text, decoded spans, word states of hidden state ``layer`` or None)`` of every text,
        longest first."""
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"texts[{i}] is {type(text).__name__}, not str")
        batch_size = self.batch_size if batch_size is None else batch_size
        if batch_size < 1 or chunk_size < 1:
            raise ValueError("batch_size and chunk_size must be positive")
        if states and not getattr(self.forward, "has_states", hasattr(self.forward, "states")):
            raise ValueError("this backend gives no hidden states, which the learned event linker needs "
                             "(re-export the ONNX file with export-onnx, or use the rules)")
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        previous = getattr(self.forward, "states", False), getattr(self.forward, "state_layer", -1)
        if states:
            self.forward.states = True  # type: ignore[attr-defined]
            self.forward.state_layer = layer  # type: ignore[attr-defined]
        try:
            for lo in range(0, len(order), chunk_size):
                chunk = order[lo : lo + chunk_size]
                yield from self._tag_chunk(chunk, [texts[i] for i in chunk], batch_size, states)
        finally:
            if states:
                self.forward.states, self.forward.state_layer = previous  # type: ignore[attr-defined]

    def _tag_chunk(self, indices: list[int], texts: list[str], batch_size: int, states: bool) -> Iterator[
            tuple[int, str, list[tuple[Any, float]], np.ndarray | None]]:
        enc = encode_texts(self.tokenizer, texts, self.max_length, self.stride)
        ids: list[list[int]] = enc["input_ids"]
        per_text: list[list[int]] = [[] for _ in texts]
        for w, sample in enumerate(enc["overflow_to_sample_mapping"]):
            per_text[sample].append(w)
        all_words = [Words.of(text) for text in texts]
        read: list[np.ndarray] | None = None
        if getattr(self.forward, "recheck", 0) > 0:  # bf16's fp32 re-check looks only at the rows decoding reads
            read = [np.empty(0, dtype=bool)] * len(ids)
            for t, words in enumerate(all_words):
                masks = read_tokens(((enc["offset_mapping"][w], enc.sequence_ids(w)) for w in per_text[t]), words)
                for w, mask in zip(per_text[t], masks, strict=True):
                    read[w] = mask
        rows = self._run_windows(ids, batch_size, read)
        n_tags = len(ID2TAG)
        for t, (index, text) in enumerate(zip(indices, texts, strict=True)):
            words = all_words[t]
            windows = [(enc["offset_mapping"][w], enc.sequence_ids(w), rows[w]) for w in per_text[t]]
            decoded = decode_text(text, ((o, q, r[:, :n_tags]) for o, q, r in windows), words, self.decoding)
            word_vecs = word_states(text, ((o, q, r[:, n_tags:]) for o, q, r in windows), words) if states else None
            yield index, text, decoded, word_vecs

    def _run_windows(self, ids: list[list[int]], batch_size: int,
                     read: list[np.ndarray] | None = None) -> list[np.ndarray]:
        """Probabilities ``(n_tokens, n_tags)`` of every window, in batches of similar length.

        ``read`` (per window, the tokens whose rows decoding reads) goes to the
        forward pass where given, for bf16's re-check.

        A batch holds up to ``batch_size * max_length`` tokens (padding
        included): ``batch_size`` full windows, or more short ones, so that
        the matrix products stay as large, and as fast per token, as at full
        length.
        """
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        order = np.argsort(-lengths, kind="stable")
        budget = batch_size * self.max_length
        batches: list[np.ndarray] = []
        lo = 0
        while lo < len(order):
            width = int(lengths[order[lo]])  # the longest window of the batch: sorted, so its first
            batches.append(order[lo : lo + max(batch_size, budget // max(width, 1))])
            lo += len(batches[-1])

        def run(batch: np.ndarray) -> np.ndarray:
            width = int(lengths[batch[0]])
            input_ids = np.full((len(batch), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, w in enumerate(batch):
                input_ids[row, : lengths[w]] = ids[w]
                mask[row, : lengths[w]] = 1
            token_types = np.zeros_like(input_ids) if self.use_token_type_ids else None
            if read is None:
                return self.forward(input_ids, mask, token_types)
            reads = np.zeros(input_ids.shape, dtype=bool)
            for row, w in enumerate(batch):
                reads[row, : lengths[w]] = read[w]
            return self.forward(input_ids, mask, token_types, read=reads)

        probs: list[np.ndarray] = [np.empty((0, len(ID2TAG)), dtype=np.float32)] * len(ids)  # rows: tags (+ states)
        if self.streams > 1 and len(batches) > 1:
            start = getattr(self.forward, "start_stream", None)
            init = (lambda: start(self.streams)) if start else None
            with ThreadPoolExecutor(self.streams, thread_name_prefix="span-tagger", initializer=init) as pool:
                outputs: Iterable[np.ndarray] = list(pool.map(run, batches))
        else:
            outputs = map(run, batches)
        for batch, out in zip(batches, outputs, strict=True):
            for row, w in enumerate(batch):
                probs[w] = out[row, : lengths[w]]
        return probs

    def __call__(self, texts: Iterable[str], batch_size: int | None = None) -> list[list[dict[str, Any]]]:
        return self.predict(list(texts), batch_size=batch_size)


def _span_dict(text: str, span: Any, score: float) -> dict[str, Any]:
    return {"start": span.start, "end": span.end, "label": span.label, "text": text[span.start : span.end],
            "score": score}
