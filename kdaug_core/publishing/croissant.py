"""croissant.json: the dataset described as Croissant 1.0 JSON-LD (MLCommons), beside the card.

What it says: the dataset (name, description, licence, provenance: source datasets and the command),
every file with its sha256 (FileObject), each split's Parquet files (a FileSet, read relative to the
folder that holds croissant.json) and one RecordSet per split whose fields are the schema's columns.
A pure function of the manifest; `mlcroissant validate` accepts it and `mlcroissant.Dataset` reads it.
"""

from __future__ import annotations

from kdaug.core.publishing.card import CITATIONS, card_metadata, cited_papers
from kdaug.core.publishing.manifest import complete_splits, label_names_of, methods_of
from kdaug.core.schema import load_spec

CONFORMS_TO = "http://mlcommons.org/croissant/1.0"
# The context every Croissant 1.0 file carries (the spec's own, verbatim).
CONTEXT = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}
DATA_TYPES = {
    "string": "sc:Text",
    "int64": "sc:Integer",
    "int32": "sc:Integer",
    "float32": "sc:Float",
    "bool": "sc:Boolean",
}
ENCODING = {"data": "application/x-parquet", "dead_letter": "application/jsonlines"}


def license_url(license_id: str) -> str:
    """A licence as Croissant (schema.org) wants it, a URL or text: the Hub's licence page for an id."""
    return "unknown" if license_id == "unknown" else f"https://huggingface.co/datasets?license=license:{license_id}"


def croissant_metadata(manifest: dict) -> dict:
    splits = complete_splits(manifest)
    if not splits:
        raise ValueError("no split is complete: nothing to describe")
    meta = card_metadata(manifest)
    labels = label_names_of(splits)
    methods = methods_of(splits)
    columns = load_spec(manifest["schema_version"])["columns"]
    commands = sorted({e["command"] for e in splits.values()})
    teachers = sorted({e["teacher"]["spec"] for e in splits.values()})
    cited = cited_papers(splits, (manifest.get("card") or {}).get("role"))
    return {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": CONFORMS_TO,
        "name": meta["pretty_name"],
        "description": (
            f"A knowledge-distillation dataset materialized by kdaug: the corpus's examples and augmented "
            f"copies ({', '.join(methods) or 'none'}), every row labelled by the teacher {', '.join(teachers)} "
            f"(soft labels: teacher_logits; classes {labels}). Gold labels only on rows whose aug_method is "
            f"'original'."
        ),
        "license": license_url(meta["license"]),
        "url": "https://pypi.org/project/kdaug/",
        "version": "1.0.0",
        "datePublished": max(e["created"] for e in splits.values()),
        "inLanguage": meta["language"],
        "keywords": meta["tags"],
        "citeAs": " ".join(CITATIONS[c] for c in cited),
        "isBasedOn": [s.split("|", 1)[1] for s in meta["source_datasets"] if "|" in s],
        "creator": {"@type": "sc:Organization", "name": "kdaug materialize"},
        "isAccessibleForFree": True,
        # How the data was made (Croissant RAI's provenance field): the exact commands.
        "rai:dataCollection": "Made by: " + "; ".join(commands),
        "distribution": file_objects(splits) + [file_set(split) for split in splits],
        "recordSet": [record_set(split, columns, labels) for split in splits],
    }


def file_objects(splits: dict[str, dict]) -> list[dict]:
    """Every data and dead-letter file, with its size and sha256."""
    return [
        {
            "@type": "cr:FileObject",
            "@id": f["path"],
            "name": f["path"],
            "contentUrl": f["path"],
            "contentSize": f"{f['bytes']} B",
            "encodingFormat": ENCODING[f["path"].split("/")[0]],
            "sha256": f["sha256"],
        }
        for e in splits.values()
        for f in e.get("files", [])
    ]


def file_set(split: str) -> dict:
    return {
        "@type": "cr:FileSet",
        "@id": f"parquet-files-for-{split}",
        "name": f"parquet-files-for-{split}",
        "description": f"The Parquet files of split {split!r} (their checksums: the FileObjects).",
        "encodingFormat": ENCODING["data"],
        "includes": f"data/{split}-*.parquet",
    }


def record_set(split: str, columns: list[dict], labels: list[str]) -> dict:
    """A split's rows: one field per schema column, read from the split's file set."""
    fields = []
    for c in columns:
        field = {
            "@type": "cr:Field",
            "@id": f"{split}/{c['name']}",
            "name": c["name"],
            "description": c["description"]
            + (f" Class index into {labels}." if c["name"] in ("label", "teacher_pred") else ""),
            "dataType": DATA_TYPES[c["type"][5:-1] if c["type"].startswith("list<") else c["type"]],
            "source": {"fileSet": {"@id": f"parquet-files-for-{split}"}, "extract": {"column": c["name"]}},
        }
        if c["type"].startswith("list<"):
            field["repeated"] = True
        fields.append(field)
    return {
        "@type": "cr:RecordSet",
        "@id": split,
        "name": split,
        "description": f"The rows of split {split!r}: originals and their augmented copies.",
        "field": fields,
    }
