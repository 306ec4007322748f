"""A materialized dataset directory: its layout, how a run stages and commits a split, what readers read.

    OUT/
      data/SPLIT-UUUUU-CCCCC.parquet          committed data files, every split
      dead_letter/SPLIT-00000-of-00001.jsonl  committed dead letters
      manifest.json                           the commit record: per split its state, counts, exact files
                                              (each with its size and sha256)
      README.md                               the dataset card: each complete split's exact files
      croissant.json                          the same as Croissant JSON-LD metadata
      .kdaug/staging/SPLIT/                   a run in progress (hidden: globs and `datasets` skip it)
        data/NAME.parquet                     a finished chunk's file
        chunks/KEY.json                       ...and its record (fingerprint, counts, dead letters),
                                              written last: a chunk is staged once this exists
        dead_letter/NAME.jsonl

A run writes only under staging, so until it commits, `data/` and the manifest still describe the last
complete run of the split (or nothing, for a first run). Commit, once every chunk is staged:
  1. the manifest marks the split "committing" (readers refuse it) and the card leaves it out;
  2. the staged files are promoted into data/ and dead_letter/: on a local filesystem by building the
     new directories beside the old and swapping them in with renames (a glob sees the old files, for
     an instant no directory, then the new ones); on an object store (GCS, S3, fsspec's memory
     filesystem), which has no directory renames, by deleting the split's stale files and copying the
     new ones, one file at a time;
  3. the manifest marks the split "complete" and the card lists its exact files;
  4. staging is removed.
A kill at any point leaves either the last complete state or a split marked incomplete; running the same
command again reuses the staged chunks whose fingerprint matches and finishes the commit.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import posixpath
from collections.abc import Callable, Mapping, Sequence

import fsspec

from kdaug.core.corpus import RawRecord
from kdaug.core.errors import KdaugError

DATA, DEAD_LETTER, MANIFEST, CARD, CROISSANT = "data", "dead_letter", "manifest.json", "README.md", "croissant.json"
STAGING = ".kdaug/staging"
COMPLETE, COMMITTING = "complete", "committing"
log = logging.getLogger("kdaug")


class IncompleteDatasetError(KdaugError, ValueError):
    """A dataset (or one of its splits) is not complete: never written, or its run did not finish."""


class DamagedDatasetError(KdaugError, ValueError):
    """A dataset's files are not the ones its manifest records (cut short, changed or replaced)."""


class OutputNotWritableError(KdaugError, OSError):
    """The output directory cannot be written; found before any work."""


class DatasetDir:
    """A dataset directory at a local path or a URL (gs://, s3://, memory://): anything fsspec opens."""

    def __init__(self, url: str):
        self.url = url.rstrip("/") or url
        self.fs, self.root = fsspec.core.url_to_fs(self.url)
        protocols = self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        self.local = "file" in protocols  # directories can be renamed atomically

    def path(self, *parts: str) -> str:
        return posixpath.join(self.root, *parts) if parts else self.root

    def shown(self, path: str) -> str:
        """A path as the user would write it: plain on a local disk, with its protocol elsewhere."""
        return path if self.local else self.fs.unstrip_protocol(path)

    def staging(self, split: str, *parts: str) -> str:
        return self.path(STAGING, split, *parts)

    # ------------------------------------------------------------------------------------ writing

    def write(self, path: str, data: bytes) -> None:
        """Writes a whole file so that no reader sees half of it: a temporary file renamed over the
        target on a local disk; an object store publishes an object only once it is fully uploaded."""
        self.fs.makedirs(posixpath.dirname(path), exist_ok=True)
        if not self.local:
            self.fs.pipe_file(path, data)
            return
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)

    def check_writable(self, split: str) -> None:
        """Fails before any work, with one message, when the output cannot be written."""
        if self.fs.isfile(self.root):
            raise OutputNotWritableError(f"output {self.url!r} is a file; give a directory (it is created if missing)")
        for where in (self.path(), self.path(DATA), self.path(DEAD_LETTER), self.staging(split)):
            probe = posixpath.join(where, f".kdaug-write-check-{os.getpid()}")
            try:
                self.write(probe, b"")
                self.fs.rm(probe)
            except OSError as err:
                reason = err.strerror or str(err) or type(err).__name__
                raise OutputNotWritableError(f"cannot write to {self.shown(where)!r}: {reason}") from None

    # ------------------------------------------------------------------------------------ staging

    def staged_chunk(self, split: str, key: str) -> dict | None:
        """The record of a staged chunk, or None when the chunk is not (completely) staged."""
        path = self.staging(split, "chunks", f"{key}.json")
        try:
            record = json.loads(self.fs.cat_file(path))
        except (FileNotFoundError, ValueError):
            return None
        data_file = record.get("data_file")
        if data_file and not self.fs.exists(self.staging(split, DATA, data_file)):
            return None
        return record

    def staged_chunk_count(self, split: str) -> int:
        """How many chunks of the split an unfinished job has staged (a rerun reuses those of its own job)."""
        chunks = self.staging(split, "chunks")
        return len(self.fs.glob(f"{chunks}/*.json")) if self.fs.exists(chunks) else 0

    def stage_chunk(self, split: str, key: str, data_file: str | None, data: bytes | None, record: dict) -> None:
        """A finished chunk: its data file first, then its record (which makes it count as staged)."""
        if data_file is not None and data is not None:
            self.write(self.staging(split, DATA, data_file), data)
        self.write(
            self.staging(split, "chunks", f"{key}.json"),
            json.dumps({**record, "data_file": data_file}, sort_keys=True).encode("utf-8"),
        )

    def stage_dead_letters(self, split: str, name: str, data: bytes) -> None:
        self.write(self.staging(split, DEAD_LETTER, name), data)

    # ------------------------------------------------------------------------------------ committing

    def read_manifest(self) -> dict | None:
        try:
            return json.loads(self.fs.cat_file(self.path(MANIFEST)))
        except (FileNotFoundError, NotADirectoryError):
            return None

    def commit(
        self,
        split: str,
        entry: dict,
        data_files: list[str],
        dead_letter_files: list[str],
        with_entry: Callable[[dict | None, str, dict], dict],
        documents: Callable[[dict], dict[str, str]],
    ) -> dict:
        """Promotes the split's staged files (names) and records `entry`, with every file's size and
        sha256, in the manifest (steps 1-4 above). `with_entry(manifest, split, entry)` gives the manifest
        with the split's entry set; `documents(manifest)` renders the files beside it ({name: text}: the
        dataset card, the Croissant metadata). Returns the manifest."""
        staged = [
            (sub, name) for sub, names in ((DATA, data_files), (DEAD_LETTER, dead_letter_files)) for name in names
        ]
        entry = {
            **entry,
            "files": [self.file_entry(self.staging(split, sub, name), f"{sub}/{name}") for sub, name in staged],
        }
        before = self.read_manifest()
        self._publish(with_entry(before, split, {**entry, "state": COMMITTING}), documents)
        for sub, names in ((DATA, data_files), (DEAD_LETTER, dead_letter_files)):
            if self.local:
                self._swap_in(split, sub, names)
            else:
                self._copy_in(split, sub, names)
        manifest = with_entry(before, split, {**entry, "state": COMPLETE})
        self._publish(manifest, documents)
        self.fs.rm(self.staging(split), recursive=True)
        hidden = self.path(STAGING.split("/")[0])
        if not self.fs.find(hidden):  # no other split's run is staged: leave no trace
            self.fs.rm(hidden, recursive=True)
        return manifest

    def file_entry(self, path: str, name: str) -> dict:
        """{"path": name, "bytes", "sha256"} of the file at `path`, read in blocks."""
        h, size = hashlib.sha256(), 0
        with self.fs.open(path, "rb") as f:
            while block := f.read(1 << 20):
                h.update(block)
                size += len(block)
        return {"path": name, "bytes": size, "sha256": h.hexdigest()}

    def _publish(self, manifest: dict, documents: Callable[[dict], dict[str, str]]) -> None:
        self.write(self.path(MANIFEST), (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8"))
        for name, text in documents(manifest).items():
            self.write(self.path(name), text.encode("utf-8"))

    def _swap_in(self, split: str, sub: str, names: list[str]) -> None:
        """Local: next = the other splits' files (hard links) + the new files (hard links to the staged
        ones, which stay until the commit ends); then current -> old, next -> current."""
        current, nxt, old = self.path(sub), self.staging(split, f"next-{sub}"), self.staging(split, f"old-{sub}")
        if os.path.isdir(old):
            if os.path.isdir(current):
                _remove(old)  # a finished swap whose clean-up was cut short
            else:
                os.replace(old, current)  # a swap cut short between its two renames: undo it
        _remove(nxt)
        os.makedirs(nxt)
        if os.path.isdir(current):
            for name in sorted(os.listdir(current)):
                if not name.startswith(f"{split}-") and not name.startswith("."):
                    os.link(os.path.join(current, name), os.path.join(nxt, name))
        for name in names:
            os.link(self.staging(split, sub, name), os.path.join(nxt, name))
        if os.path.isdir(current):
            os.replace(current, old)
        os.replace(nxt, current)
        _remove(old)

    def _copy_in(self, split: str, sub: str, names: list[str]) -> None:
        """Object stores: the split's files that this run did not write go, then each new file is copied
        in (an object appears whole or not at all)."""
        keep = set(names)
        for existing in self.fs.glob(self.path(sub, f"{split}-*")):
            if posixpath.basename(existing) not in keep:
                self.fs.rm(existing)
        for name in names:
            self.fs.copy(self.staging(split, sub, name), self.path(sub, name))

    # ------------------------------------------------------------------------------------ reading

    def committed_entry(self, split: str) -> dict:
        """The manifest's entry of a complete split (committed_files() checks it is complete)."""
        manifest = self.read_manifest() or {}
        return manifest.get("splits", {}).get(split, {})

    def check_sizes(self, entry: dict) -> None:
        """Raises DamagedDatasetError naming the first data file of a split (its manifest `entry`) whose
        size is not the manifest's: the cheap half of `kdaug verify`, for readers that are about to train
        on the files (the sha256s are checked as the files are read; see the trainer's fingerprint)."""
        for f in entry.get("files", []):
            if f["path"] not in entry.get("data_files", []):
                continue
            size = self.fs.size(self.path(f["path"]))
            if size != f["bytes"]:
                raise DamagedDatasetError(
                    f"{self.shown(self.path(f['path']))} has {size} bytes, the manifest of {self.url!r} says "
                    f"{f['bytes']}: the file was cut short or changed after materialize wrote it. Run `kdaug verify "
                    f"{self.url}` to see every problem, and materialize the split again"
                )

    def committed_files(self, split: str) -> list[str]:
        """The data files of a complete split, as paths (or URLs) to open; raises IncompleteDatasetError
        naming what is missing when the split is not complete."""
        manifest = self.read_manifest()
        if manifest is None:
            if self.fs.exists(self.path(STAGING)):
                raise IncompleteDatasetError(
                    f"{self.url!r} is incomplete: its first materialize run did not finish (no manifest.json; "
                    f"its work so far is staged in {STAGING}/). Run the same command again to finish it."
                )
            raise IncompleteDatasetError(
                f"{self.url!r} is not a materialized dataset (no {MANIFEST}); make one with kdaug materialize"
            )
        splits = manifest.get("splits", {})
        complete = sorted(s for s, e in splits.items() if e.get("state", COMPLETE) == COMPLETE)
        entry = splits.get(split)
        if entry is None:
            raise IncompleteDatasetError(f"no split {split!r} in {self.url!r} (found splits: {complete or 'none'})")
        if entry.get("state", COMPLETE) != COMPLETE:
            raise IncompleteDatasetError(
                f"split {split!r} of {self.url!r} is incomplete: the materialize run that made it stopped while "
                f"committing its files. Run the same command again to finish it: {entry.get('command', '')}"
            )
        files = [self.path(f) for f in entry["data_files"]]
        missing = [f for f in files if not self.fs.exists(f)]
        if missing:
            raise IncompleteDatasetError(
                f"split {split!r} of {self.url!r} is incomplete: {len(missing)} of its {len(files)} data files are "
                f"missing ({', '.join(posixpath.basename(f) for f in missing[:3])}"
                f"{', ...' if len(missing) > 3 else ''})"
            )
        if self.fs.exists(self.staging(split, "chunks")):
            log.warning(
                "%s: a later materialize run of split %r did not finish (its work is staged in %s/); "
                "reading the last complete run",
                self.url,
                split,
                STAGING,
            )
        return [self.shown(f) for f in files]


def job_fingerprint(recipe: dict, teacher_sha256: str, label_names: list[str], schema_version: int) -> str:
    """What decides a split's rows besides its input: the recipe (seed, augmenters, columns, chunk size,
    soft-label storage...), the teacher's weights and labels, the schema and kdaug's version."""
    from importlib import metadata

    try:
        version = metadata.version("kdaug")
    except metadata.PackageNotFoundError:
        version = "unknown"
    payload = {
        "recipe": recipe,
        "teacher_sha256": teacher_sha256,
        "label_names": label_names,
        "schema_version": schema_version,
        "kdaug": version,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def chunk_fingerprint(
    job: str, key: str, records: Sequence[RawRecord], duplicates: Mapping[str, str], id_column: str | None = None
) -> str:
    """A chunk's identity: the job, its place (unit and chunk index), every record as read (position,
    parsed fields, raw text, read error: all a row or dead letter is made from), and, for ids the corpus
    repeats, where each id first occurs (which decides which repeat is dropped)."""
    h = hashlib.sha256(f"{job}\x1f{key}".encode())
    ids = set()
    for rec in records:
        fields = json.dumps(rec.fields, ensure_ascii=True, sort_keys=True, default=repr)
        h.update("\x1e".join((rec.position, rec.error or "", rec.raw, fields)).encode("utf-8", "surrogatepass"))
        if id_column and isinstance(rec.fields, dict) and rec.fields.get(id_column) is not None:
            ids.add(str(rec.fields[id_column]).strip())
    repeated = sorted((i, duplicates[i]) for i in ids if i in duplicates)
    h.update(json.dumps(repeated, ensure_ascii=True).encode())
    return h.hexdigest()


def _remove(path: str) -> None:
    if os.path.isdir(path):
        import shutil

        shutil.rmtree(path)
