"""`kdaug verify`, `kdaug report` and `kdaug publish`: the commands over a materialized dataset (the work
is in kdaug.core.publishing).

Publishing always verifies first: a dataset whose files do not match their checksums is not uploaded.
`--dry-run` stops after printing what would be uploaded and the card, and touches no network.
"""

from __future__ import annotations

import argparse
import re
import sys


def verify_main(argv: list[str]) -> int:
    from kdaug.core.dataset import DatasetDir
    from kdaug.core.publishing.verify import verify

    p = argparse.ArgumentParser(
        prog="kdaug verify",
        description="Check a materialized dataset against its manifest: checksums, row counts, schema, counts.",
    )
    p.add_argument("dataset", metavar="DIR", help="the dataset directory (or gs://, s3:// URL)")
    args = p.parse_args(argv)
    problems = verify(args.dataset)
    for problem in problems:
        print(f"kdaug verify: {args.dataset}: {problem}", file=sys.stderr)
    if problems:
        return 1
    manifest = DatasetDir(args.dataset).read_manifest() or {}
    files = sum(len(e.get("files", [])) for e in manifest.get("splits", {}).values())
    rows = sum(e.get("rows_written", 0) for e in manifest.get("splits", {}).values())
    print(f"{args.dataset}: OK ({len(manifest.get('splits', {}))} split(s), {rows} rows, {files} files checked)")
    return 0


def report_main(argv: list[str]) -> int:
    from kdaug.core.publishing.report import write_report

    p = argparse.ArgumentParser(prog="kdaug report", description="Write DIR/report.html: what the augmenters did.")
    p.add_argument("dataset", metavar="DIR", help="a materialized dataset directory")
    p.add_argument("--output", help="where to write the page (default DIR/report.html)")
    p.add_argument("--examples", type=int, default=10, help="copies shown per method, sampled and most drifted (10)")
    args = p.parse_args(argv)
    if args.examples < 1:
        p.error("--examples must be at least 1")
    print(f"report: {write_report(args.dataset, args.output, args.examples)}")
    return 0


def publish_main(argv: list[str]) -> int:
    from kdaug.core.dataset import CARD, DatasetDir
    from kdaug.core.publishing.hub import REPO_ID_RE, upload, upload_list
    from kdaug.core.publishing.verify import verify

    p = argparse.ArgumentParser(
        prog="kdaug publish",
        description="Verify a dataset and upload it to the Hugging Face Hub as one commit.",
    )
    p.add_argument("dataset", metavar="DIR", help="the dataset directory")
    p.add_argument("--repo-id", required=True, metavar="ORG/NAME", help="the Hub dataset repository")
    p.add_argument("--private", action="store_true", help="create the repository as private")
    p.add_argument("--revision", help="branch to commit to (created if missing; default main)")
    p.add_argument("--commit-message", help="default: 'Upload kdaug dataset'")
    p.add_argument("--dry-run", action="store_true", help="verify and show what would be uploaded; no network")
    args = p.parse_args(argv)
    if not re.match(REPO_ID_RE, args.repo_id):
        p.error(f"--repo-id {args.repo_id!r} must be ORG/NAME (letters, digits, '.', '_', '-')")
    problems = verify(args.dataset)
    for problem in problems:
        print(f"kdaug publish: {args.dataset}: {problem}", file=sys.stderr)
    if problems:
        print("kdaug publish: error: the dataset does not verify; nothing was uploaded", file=sys.stderr)
        return 1
    files = upload_list(args.dataset)
    ds = DatasetDir(args.dataset)
    sizes = {name: ds.fs.size(ds.path(name)) for name in files}
    where = f"https://huggingface.co/datasets/{args.repo_id}" + (f" (branch {args.revision})" if args.revision else "")
    print(f"{'would upload' if args.dry_run else 'uploading'} {len(files)} files to {where}:")
    for name in files:
        print(f"  {name}  ({sizes[name]:,} bytes)")
    print(f"  total {sum(sizes.values()):,} bytes; {'private' if args.private else 'public'} dataset repository")
    if args.dry_run:
        print("\n--- README.md (the dataset card) ---\n")
        print(ds.fs.cat_file(ds.path(CARD)).decode("utf-8"))
        print("--dry-run: nothing was uploaded")
        return 0
    try:
        url = upload(args.dataset, args.repo_id, files, args.private, args.revision, args.commit_message)
    except Exception as err:  # HTTP, network, auth: the Hub says why
        print(f"kdaug publish: error: the upload to {args.repo_id!r} failed: {err}", file=sys.stderr)
        return 1
    print(f"published: {url}")
    return 0
