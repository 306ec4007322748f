"""The DoFns of the materialize pipeline. Each wraps a pure function of kdaug.core.

A chunk travels through them with its ChunkLog: its fingerprint, the dead letters of its records so far
and what was counted. The writer stages the chunk's data file and then its record (kdaug.core.dataset),
so a rerun after a kill reuses every chunk whose fingerprint matches instead of redoing it. Whatever one
record can raise ends as that record's dead letter, never as the job's end."""

from __future__ import annotations

import hashlib
import io
import json
import logging
from dataclasses import dataclass, field

import apache_beam as beam
from apache_beam.pvalue import TaggedOutput

from kdaug.core.augment import AugmentSpec, build_augmenters
from kdaug.core.augment.window import restore, windowed
from kdaug.core.corpus import (
    BadRecord,
    ColumnSpec,
    LabelSpace,
    RangeStart,
    ReadUnit,
    find_range_starts,
    read_unit,
    validate_record,
)
from kdaug.core.counts import RunCounts
from kdaug.core.dataset import DatasetDir, chunk_fingerprint
from kdaug.core.progress import Progress
from kdaug.core.rows import copy_row, original_row, position_key
from kdaug.core.schema import SOFT_LABEL_COLUMNS, SoftLabels, rows_to_table
from kdaug.core.threads import set_torch_threads
from kdaug.core.words import words
from kdaug.pipelines.worker import keep_long_lived_out_of_gc, release_freed_memory

DEAD = "dead_letter"
REUSED = "reused"  # records of chunks a previous run of the same job staged
UNITS = "units"  # the chunks each unit was read into (RunCounts.unit_chunks): what finalize checks files against
log = logging.getLogger("kdaug")


def dead_letter(
    stage: str,
    reason: str,
    position: str = "",
    record_id: str | None = None,
    raw: str = "",
    fields=None,
    copy: bool = False,
) -> dict:
    """A rejected record or copy (`copy`): where it was rejected and why, `record` as it stands in the input
    (a CSV row with its quotes, a JSONL line; cut after MAX_RAW_CHARS) or a copy's text, and the `fields`
    it was parsed into (None when it could not be parsed, or for a copy)."""
    return {
        "stage": stage,
        "copy": copy,
        "position": position,
        "id": record_id,
        "reason": reason,
        "record": raw,
        "fields": json_safe(fields),
    }


def json_safe(value):
    """A record's fields as JSON and Beam's coders can hold them: a Parquet corpus's bytes, dates or
    decimals as text; a lone surrogate (a cut emoji escape) as its backslash escape, as in `record`."""
    if value is None:
        return None
    return _escape_surrogates(json.loads(json.dumps(value, ensure_ascii=True, default=str)))


def _escape_surrogates(value):
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, list):
        return [_escape_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_escape_surrogates(k): _escape_surrogates(v) for k, v in value.items()}
    return value


def failure(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


@dataclass
class ChunkLog:
    """What travels with a chunk: its key and fingerprint, its dead letters and counts so far."""

    key: str
    fingerprint: str
    dead: list[dict] = field(default_factory=list)
    counts: RunCounts = field(default_factory=RunCounts)


def chunk_key(unit_index: int, chunk_index: int) -> str:
    return f"{unit_index:05d}-{chunk_index:05d}"


def range_starts_of_file(indexed_ranges: list[tuple[int, ReadUnit]]) -> list[tuple[int, RangeStart]]:
    """[(unit index, byte range)] of one file -> [(unit index, its RangeStart)]: one scan of the file."""
    indices = [i for i, _ in indexed_ranges]
    return list(zip(indices, find_range_starts([unit for _, unit in indexed_ranges])))


def read_chunks(indexed_unit: tuple[int, ReadUnit], chunk_size: int, start: RangeStart | None):
    """(unit index, unit) -> (chunk key, raw records): consecutive runs of `chunk_size` records. Chunks
    are fixed by the data, so they (and the batches cut from them) are the same on every runner.
    `start`: where the unit's byte range begins (None for a whole file)."""
    unit_index, unit = indexed_unit
    n, chunk = 0, []
    for rec in read_unit(unit, start):
        n += 1
        chunk.append(rec)
        if len(chunk) == chunk_size:
            yield chunk_key(unit_index, (n - 1) // chunk_size), chunk
            chunk = []
    if chunk or n == 0:  # an empty unit still gets its (empty) chunk, so the file set is complete
        yield chunk_key(unit_index, (max(n, 1) - 1) // chunk_size), chunk


# The duplicate-id check in two passes, so that what crosses its shuffle is 16 bytes an id: a digest
# per id first, and ids with positions only for the digests that repeat (none, in the usual corpus).
ID_DIGEST_BYTES = 16
ID_BUCKETS = 64


def id_digest(example_id: str) -> bytes:
    return hashlib.blake2b(example_id.encode("utf-8", "surrogatepass"), digest_size=ID_DIGEST_BYTES).digest()


def valid_examples(indexed_unit: tuple[int, ReadUnit], starts, columns: ColumnSpec):
    """The unit's valid records (labels unchecked); the invalid ones are ReadAndValidateFn's dead letters."""
    unit_index, unit = indexed_unit
    for rec in read_unit(unit, starts.get(unit_index)):
        try:
            yield validate_record(rec, columns, None)
        except Exception:  # noqa: BLE001 - the record is dead-lettered by ReadAndValidateFn, with its reason
            continue


class ReadIdDigestsFn(beam.DoFn):
    """unit -> (bucket, the digests of its ids in that bucket, sorted and packed): the first pass."""

    def __init__(self, columns: ColumnSpec):
        self.columns = columns

    def process(self, indexed_unit: tuple[int, ReadUnit], starts):
        by_bucket: dict[int, list[bytes]] = {}
        for ex in valid_examples(indexed_unit, starts, self.columns):
            digest = id_digest(ex.id)
            by_bucket.setdefault(digest[0] % ID_BUCKETS, []).append(digest)
        for bucket, digests in sorted(by_bucket.items()):
            yield bucket, b"".join(sorted(digests))


def repeated_digests(item) -> list[bytes]:
    """(bucket, [packed digests of each unit]) -> the digests that occur more than once."""
    _, packs = item
    seen: set[bytes] = set()
    repeated: set[bytes] = set()
    for pack in packs:
        for i in range(0, len(pack), ID_DIGEST_BYTES):
            digest = pack[i : i + ID_DIGEST_BYTES]
            (repeated if digest in seen else seen).add(digest)
    return sorted(repeated)


class ReadRepeatedIdsFn(beam.DoFn):
    """unit -> (id, position) of each valid record whose id's digest repeats: the second pass. It reads
    nothing when no digest repeats."""

    def __init__(self, columns: ColumnSpec):
        self.columns = columns

    def process(self, indexed_unit: tuple[int, ReadUnit], starts, repeated):
        wanted = set(repeated)
        if not wanted:
            return
        for ex in valid_examples(indexed_unit, starts, self.columns):
            if id_digest(ex.id) in wanted:
                yield ex.id, ex.position


def first_of_duplicated_id(item):
    """(id, [positions]) -> (id, first position), for ids that occur more than once (a digest can repeat
    for two ids, in theory: each then has one position)."""
    example_id, positions = item
    positions = sorted(positions, key=position_key)
    if len(positions) > 1:
        yield example_id, positions[0]


class ReadAndValidateFn(beam.DoFn):
    """(unit index, unit) -> per chunk of it, (ChunkLog, source examples), or the record of the same chunk
    staged by an earlier run of this job (REUSED), and after the unit's last chunk the number of its
    chunks (UNITS). Bad records and later duplicates of an id become dead letters. Side inputs: `starts`
    maps the index of each byte range to its RangeStart, `duplicates` each repeated id to its first
    position.

    Reading and validating are one step so that raw records never cross a stage boundary: with the
    duplicate-id side input on a later step, runners fuse the reading with the id scan (both read the
    units) and store every raw record between the two stages (Beam's local runner in its launcher
    process, ~2 KB per source: 2.7 GB at a million)."""

    def __init__(
        self, chunk_size: int, columns: ColumnSpec, labels: LabelSpace | None, output: str, split: str, job: str
    ):
        self.chunk_size, self.columns, self.labels = chunk_size, columns, labels
        self.output, self.split, self.job = output, split, job

    def setup(self):
        self.dataset = DatasetDir(self.output)

    def process(self, indexed_unit: tuple[int, ReadUnit], starts, duplicates):
        chunks = 0
        for key, records in read_chunks(indexed_unit, self.chunk_size, starts.get(indexed_unit[0])):
            chunks += 1
            yield from self.validate_chunk(key, records, duplicates)
        yield TaggedOutput(UNITS, RunCounts(unit_chunks={str(indexed_unit[0]): chunks}))

    def validate_chunk(self, key: str, records: list, duplicates):
        chunk_log = ChunkLog(key, chunk_fingerprint(self.job, key, records, duplicates, self.columns.id))
        staged = self.dataset.staged_chunk(self.split, key)
        if staged is not None and staged.get("fingerprint") == chunk_log.fingerprint:
            yield TaggedOutput(REUSED, staged)
            return
        chunk_log.counts = RunCounts.read(len(records))
        sources = []
        for rec in records:
            try:
                ex = validate_record(rec, self.columns, self.labels)
            except BadRecord as err:
                chunk_log.dead.append(dead_letter("read", str(err), rec.position, err.record_id, rec.raw, rec.fields))
                continue
            except Exception as err:  # noqa: BLE001 - whatever one record raises is its own dead letter
                chunk_log.dead.append(dead_letter("read", failure(err), rec.position, None, rec.raw, rec.fields))
                continue
            first = duplicates.get(ex.id)
            if first is not None and first != ex.position:
                reason = f"duplicate id {ex.id!r} (first seen at {first})"
                chunk_log.dead.append(dead_letter("read", reason, ex.position, ex.id, rec.raw, rec.fields))
                continue
            sources.append(ex)
        yield chunk_log, sources


def reused_counts(staged: dict) -> RunCounts:
    return RunCounts.from_dict(staged["counts"]) + RunCounts(chunks_reused=1)


def reused_dead_letters(staged: dict) -> list[dict]:
    return staged["dead_letters"]


class AugmentChunkFn(beam.DoFn):
    """(key, sources) -> (key, rows): each source's original row followed by its copies. Augmenters
    see batches cut from the chunk in (length, id) order, a composition fixed by the data."""

    def __init__(
        self,
        specs: list[AugmentSpec],
        seed: int,
        batch_size: int,
        torch_threads: int | None = None,
        processes_per_machine: int = 1,
        max_words: int | None = None,
        log_every_s: float = 30.0,
        recorded_specs: list[AugmentSpec] | None = None,
    ):
        # specs: what the augmenters run with (local paths absolute); recorded_specs: what rows record
        # (the specs as given; None: specs)
        self.specs, self.seed, self.batch_size, self.max_words = specs, seed, batch_size, max_words
        self.recorded_specs = recorded_specs
        self.torch_threads, self.processes_per_machine = torch_threads, processes_per_machine
        self.log_every_s = log_every_s

    def setup(self):
        set_torch_threads(self.processes_per_machine, self.torch_threads)  # kNN, masked LM and AugPro use torch
        self.augmenters = build_augmenters(self.specs, self.recorded_specs)
        for aug in self.augmenters:
            aug.setup()
        # AugPro and the masked LM run for minutes on a CPU: one progress line per augmenter (per worker
        # process), so a job's log shows that augmentation moves and how fast.
        self.progress = {
            aug.spec_key: Progress(f"augmenting {aug.spec_key}", unit="sources", log_every_s=self.log_every_s)
            for aug in self.augmenters
        }
        self.copies_made = {aug.spec_key: 0 for aug in self.augmenters}
        keep_long_lived_out_of_gc()

    def teardown(self):
        for progress in getattr(self, "progress", {}).values():
            progress.close()

    def process(self, item):
        release_freed_memory()  # what the previous chunk freed (see kdaug.pipelines.worker)
        chunk_log, sources = item
        copies: dict[str, list[dict]] = {s.id: [] for s in sources}
        counts: dict[str, list[int]] = {}  # spec key -> [requested, written, short text], summed over the chunk
        windows = {s.id: w for s in sources if (w := windowed(s, self.max_words)) is not None}
        ordered = sorted(sources, key=lambda s: (len(s.text) + len(s.text_pair or ""), s.id))
        for start in range(0, len(ordered), self.batch_size):
            batch = ordered[start : start + self.batch_size]
            for aug in self.augmenters:
                for row in self._augment(aug, batch, windows, counts, chunk_log.dead):
                    copies[row["source_id"]].append(row)
                    self.copies_made[aug.spec_key] += 1
                self.progress[aug.spec_key].update(len(batch), copies=self.copies_made[aug.spec_key])
        for spec_key, (requested, written, short_text) in counts.items():
            chunk_log.counts += RunCounts.augmented(spec_key, requested, written, short_text)
        chunk_log.counts += RunCounts(windowed_sources=len(windows))
        rows = []
        for src in sources:
            rows.append(original_row(src))
            rows += sorted(copies[src.id], key=lambda r: r["id"])
        yield chunk_log, rows

    def _augment(self, aug, batch, windows: dict, counts: dict[str, list[int]], dead: list[dict]):
        """Yields copy rows; adds to the chunk's `counts` and its dead letters. Sources longer than
        max_words are augmented within their window (kdaug.core.augment.window)."""
        seen = [windows[s.id][0] if s.id in windows else s for s in batch]
        try:
            results = aug.augment_batch(seen, self.seed)
        except Exception as err:  # isolate the example that breaks the augmenter; keep the rest
            log.warning("augmenter %s failed on a batch (%s); retrying one by one", aug.spec_key, err)
            results = []
            for src, visible in zip(batch, seen):
                try:
                    results += aug.augment_batch([visible], self.seed)
                except Exception as one_err:  # noqa: BLE001 - the source's copies are dead-lettered, not the job
                    results.append(None)
                    dead.append(
                        dead_letter(
                            "augment", f"{aug.spec_key}: {failure(one_err)}", src.position, src.id, src.text, copy=True
                        )
                    )
        for src, res in zip(batch, results):
            if res is None:
                continue
            if src.id in windows:
                words_in_full = sum(len(words((src.text, src.text_pair)[side] or "")) for side in aug.sides_of(src))
                res = restore(res, src, windows[src.id][1], words_in_full)
            tally = counts.setdefault(aug.spec_key, [0, 0, 0])
            tally[0] += res.requested
            tally[1] += len(res.copies)
            tally[2] += res.short_text
            for copy in res.copies:
                yield copy_row(src, copy, aug)


def failed_inference_to_dead_letters(item):
    """RunInference's failure output ([chunk], exception) -> a dead letter per row of the chunk (the
    chunk is not staged, so a rerun labels it again)."""
    batch, exc = item
    for chunk_log, rows in batch:
        yield from chunk_log.dead
        for row in rows:
            yield _row_dead_letter(row, "label", f"teacher inference failed: {failure(exc)}")


def failed_chunks(item) -> RunCounts:
    """RunInference's failure output -> the keys of its chunks (dead-lettered, so accounted for)."""
    batch, _ = item
    return RunCounts(chunks_failed=frozenset(chunk_log.key for chunk_log, _ in batch))


def unaccounted_chunks(unit_count: int, counts: RunCounts, split: str) -> list[str]:
    """What a job would leave out of its dataset: every unit the reading did not report, and every chunk a
    unit reported that has neither a data file (written now or reused) nor dead letters. Empty when the
    job is whole; a runner that loses work (Beam's local runner once lost 7 of the 260 chunks of a
    million-source job, with an earlier graph) must not commit."""
    problems = [f"unit {u} was never read" for u in range(unit_count) if str(u) not in counts.unit_chunks]
    for unit, chunks in sorted(counts.unit_chunks.items(), key=lambda kv: int(kv[0])):
        for c in range(chunks):
            key = chunk_key(int(unit), c)
            if data_file_name(split, key) not in counts.data_files and key not in counts.chunks_failed:
                problems.append(f"chunk {key} has no data file")
    return problems


def _row_dead_letter(row: dict, stage: str, reason: str) -> dict:
    return dead_letter(stage, reason, "", row["id"], row["text"], copy=row["aug_method"] != "original")


def data_file_name(split: str, key: str) -> str:
    return f"{split}-{key}.parquet"


def writable_table(rows: list[dict], schema, soft_labels: SoftLabels):
    """(table, dead letters): the rows as a table; a row that cannot be stored (a value Arrow rejects)
    is found by trying each alone and dead-lettered, and the others are written."""
    try:
        return rows_to_table(rows, schema, soft_labels), []
    except Exception:  # noqa: BLE001 - find the rows that cause it
        good, dead = [], []
        for row in rows:
            try:
                rows_to_table([row], schema, soft_labels)
                good.append(row)
            except Exception as err:  # noqa: BLE001
                dead.append(_row_dead_letter(row, "write", failure(err)))
        return rows_to_table(good, schema, soft_labels), dead


class WriteChunkFn(beam.DoFn):
    """(ChunkLog, labelled rows) -> the chunk's Parquet file in staging (rows in corpus order: each
    original followed by its copies) and then its record; emits the chunk's counts, and its dead letters
    (DEAD)."""

    def __init__(self, output: str, split: str, schema, soft_labels: SoftLabels):
        self.output, self.split, self.schema, self.soft_labels = output, split, schema, soft_labels

    def setup(self):
        self.dataset = DatasetDir(self.output)

    def process(self, item):
        import pyarrow.parquet as pq

        chunk_log, labelled = item
        dead = chunk_log.dead + [_row_dead_letter(row, "label", reason) for row, reason in labelled.failed]
        table, unwritable = writable_table(labelled.rows, self.schema, self.soft_labels)
        dead += unwritable
        dropped = {d["id"] for d in unwritable}
        written = [r for r in labelled.rows if r["id"] not in dropped]
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd")
        data = buf.getvalue()
        name = data_file_name(self.split, chunk_log.key)
        meta = pq.ParquetFile(io.BytesIO(data)).metadata
        soft_cols = [i for i, n in enumerate(self.schema.names) if n in SOFT_LABEL_COLUMNS]
        soft_bytes = sum(
            meta.row_group(g).column(c).total_compressed_size for g in range(meta.num_row_groups) for c in soft_cols
        )
        counts = chunk_log.counts + RunCounts.written(name, written, len(data), soft_bytes)
        record = {"fingerprint": chunk_log.fingerprint, "counts": counts.to_dict(), "dead_letters": dead}
        self.dataset.stage_chunk(self.split, chunk_log.key, name, data, record)
        del table, buf, data
        release_freed_memory()  # labelling's batches and the file's buffers (see kdaug.pipelines.worker)
        yield counts + RunCounts(chunks_written=1)
        for d in dead:
            yield TaggedOutput(DEAD, d)


class WriteDeadLettersFn(beam.DoFn):
    """All dead letters of a split -> one JSONL file in staging, sorted, with a count per stage."""

    def __init__(self, output: str, split: str):
        self.output, self.split = output, split

    def process(self, item):
        _, letters = item
        letters = sorted(letters, key=lambda d: (d["stage"], position_key(d["position"]), d["id"] or "", d["reason"]))
        # backslashreplace: a record's lone surrogate (a truncated emoji escape) stays a valid JSON escape
        data = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in letters).encode("utf-8", "backslashreplace")
        name = f"{self.split}-00000-of-00001.jsonl"
        DatasetDir(self.output).stage_dead_letters(self.split, name, data)
        yield RunCounts.dead_lettered(name, letters)
