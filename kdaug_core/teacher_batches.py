"""How a teacher's inputs become batches: the tokenizer called the way labelling needs it (true lengths,
then the long texts cut), texts packed by length into sub-batches under a token budget, and the next
batches encoded on a thread while the model runs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class Encoder:
    """A teacher's tokenizer, called the way labelling needs it: whole texts first (true lengths), then
    only the long ones again, cut to max_length (longest first, on the tokenizer's truncation side).

    Beam shares one Teacher between a worker's threads, and a transformers fast tokenizer re-configures
    its single Rust tokenizer on every call, so two threads labelling at once could encode each other's
    texts with the wrong truncation. Here each setting has its own copy of the Rust tokenizer, configured
    once and only read afterwards; reading the ids straight off its encodings also skips transformers'
    per-text conversion (about a tenth of a small teacher's labelling time). A slow (pure Python) tokenizer is
    called as before, one thread at a time."""

    def __init__(self, tokenizer, max_length: int):
        import threading

        self.tokenizer, self.max_length = tokenizer, max_length
        names = tokenizer.model_input_names
        self.fields = [("input_ids", "ids")] + [
            (key, attr)
            for key, attr in (("token_type_ids", "type_ids"), ("attention_mask", "attention_mask"))
            if key in names
        ]
        self._lock = threading.Lock()
        self._whole = self._cut = None
        if getattr(tokenizer, "is_fast", False):
            from tokenizers import Tokenizer

            backend = tokenizer.backend_tokenizer
            self._whole, self._cut = (Tokenizer.from_str(backend.to_str()) for _ in range(2))
            for copy in (self._whole, self._cut):
                copy.no_padding()
                copy.encode_special_tokens = True  # text is text: "[SEP]" in the data is not a separator
            self._whole.no_truncation()
            self._cut.enable_truncation(
                max_length, stride=0, strategy="longest_first", direction=tokenizer.truncation_side
            )
            # encode_batch_fast (tokenizers >= 0.20) skips the character offsets, which labelling never
            # reads: ~15% of the tokenizer's time on short texts.
            self._encode_whole, self._encode_cut = (
                getattr(copy, "encode_batch_fast", copy.encode_batch) for copy in (self._whole, self._cut)
            )

    def encode(self, texts: Sequence[str], pairs: Sequence[str] | None) -> tuple[list[dict], np.ndarray]:
        if self._whole is None:
            with self._lock:
                return self._encode_slow(texts, pairs)
        inputs = list(texts) if pairs is None else list(zip(texts, pairs))
        encodings = self._encode_whole(inputs)
        truncated = np.array([len(e) > self.max_length for e in encodings], dtype=bool)  # len: no ids list built
        if truncated.any():
            idx = np.flatnonzero(truncated)
            for i, cut in zip(idx, self._encode_cut([inputs[i] for i in idx])):
                encodings[i] = cut
        fields = self.fields
        return [{key: getattr(e, attr) for key, attr in fields} for e in encodings], truncated

    def _encode_slow(self, texts, pairs) -> tuple[list[dict], np.ndarray]:
        def call(texts, pairs, **kwargs):
            return self.tokenizer(list(texts), list(pairs) if pairs is not None else None, **kwargs)

        enc = call(texts, pairs, truncation=False)  # true lengths first; re-encode only the long ones
        truncated = np.array([len(x) > self.max_length for x in enc["input_ids"]], dtype=bool)
        if truncated.any():
            idx = np.flatnonzero(truncated)
            short = call(
                [texts[i] for i in idx],
                [pairs[i] for i in idx] if pairs is not None else None,
                truncation=True,
                max_length=self.max_length,
            )
            for j, i in enumerate(idx):
                for key in enc:
                    enc[key][i] = short[key][j]
        return [{k: enc[k][i] for k in enc} for i in range(len(texts))], truncated


def prefetched(iterator, depth: int):
    """Runs `iterator` in a background thread, `depth` items ahead; re-raises its errors here."""
    import queue
    import threading

    items: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def produce():
        try:
            for item in iterator:
                while not stop.is_set():
                    try:
                        items.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            items.put(done)
        except BaseException as err:  # handed to the consumer
            items.put(err)

    thread = threading.Thread(target=produce, name="teacher-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def pack_by_budget(
    order: list[int],
    lengths: list[int],
    token_budget: int,
    max_batch: int,
    max_padding: float = 0.1,
    min_batch: int = 8,
) -> list[list[int]]:
    """Cuts length-sorted indices into batches whose padded size (count x longest) fits the budget, and
    whose padding stays under `max_padding` of the real tokens once a batch has `min_batch` rows (so a
    short batch is not padded up to a long text; every padded token costs as much as a real one)."""
    batches: list[list[int]] = []
    current: list[int] = []
    longest, real = 0, 0
    for i in order:
        new_longest = max(longest, lengths[i])
        padded = new_longest * (len(current) + 1)
        if current and (
            padded > token_budget
            or len(current) >= max_batch
            or (len(current) >= min_batch and padded > (1 + max_padding) * (real + lengths[i]))
        ):
            batches.append(current)
            current, new_longest, real = [], lengths[i], 0
        current.append(i)
        longest, real = new_longest, real + lengths[i]
    if current:
        batches.append(current)
    return batches
