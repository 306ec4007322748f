import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kdaug.core.corpus import (
    BadRecord,
    ColumnSpec,
    CorpusError,
    LabelSpace,
    check_columns,
    check_labels,
    find_range_starts,
    parse_label_map,
    plan_read_units,
    read_unit,
    validate_record,
)
from tests.conftest import write_jsonl

LABELS = LabelSpace({0: "negative", 1: "positive"})


def read_all(path, columns=None, labels=LABELS, **kw):
    columns = columns or ColumnSpec()
    good, bad = [], []
    for unit in plan_read_units(str(path), **kw):
        for rec in read_unit(unit):
            try:
                good.append(validate_record(rec, columns, labels))
            except BadRecord as err:
                bad.append((rec.position, str(err)))
    return good, bad


def test_jsonl_reads_texts_labels_and_positions(tmp_path):
    p = write_jsonl(tmp_path / "c.jsonl", [{"text": "a fine film", "label": 1}, {"text": "dull", "label": "negative"}])
    good, bad = read_all(p)
    assert bad == []
    assert [(e.text, e.label, e.position) for e in good] == [("a fine film", 1, "c.jsonl:1"), ("dull", 0, "c.jsonl:2")]


def test_ids_come_from_the_id_column_or_a_stable_hash(tmp_path):
    rows = [{"id": 7, "text": "one", "label": 0}, {"id": "b", "text": "two", "label": 1}]
    p = write_jsonl(tmp_path / "c.jsonl", rows)
    good, _ = read_all(p, ColumnSpec(id="id"))
    assert [e.id for e in good] == ["7", "b"]
    hashed1, _ = read_all(p)
    hashed2, _ = read_all(p)
    assert [e.id for e in hashed1] == [e.id for e in hashed2]
    assert len({e.id for e in hashed1}) == 2 and all(len(e.id) == 20 for e in hashed1)
    # Same content at another position is another record, with another id.
    p2 = write_jsonl(tmp_path / "c.jsonl", [rows[1], rows[0]])
    moved, _ = read_all(p2)
    assert {e.id for e in moved}.isdisjoint({e.id for e in hashed1})


def test_bad_jsonl_records_are_rejected_with_reasons(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_bytes(
        b"\n".join(
            [
                b'{"text": "good one", "label": 1}',
                b'{"text": "broken", ',
                b'{"text": "caf\xe9 latin-1", "label": 1}',
                b'{"text": "", "label": 1}',
                b'{"label": 1}',
                b'{"text": 42, "label": 1}',
                b'{"text": "x", "label": "meh"}',
                b'{"text": "x", "label": 5}',
                b'{"text": "x", "label": 1.5}',
                b"[1, 2]",
                b'{"text": null, "label": 0}',
            ]
        )
        + b"\n"
    )
    good, bad = read_all(p)
    assert [e.text for e in good] == ["good one"]
    reasons = dict(bad)
    assert "malformed JSON" in reasons["bad.jsonl:2"]
    assert "undecodable" in reasons["bad.jsonl:3"]
    assert "empty" in reasons["bad.jsonl:4"]
    assert "missing text column" in reasons["bad.jsonl:5"]
    assert "type int" in reasons["bad.jsonl:6"]
    assert "unknown label name 'meh'" in reasons["bad.jsonl:7"]
    assert "out of range" in reasons["bad.jsonl:8"]
    assert "not an integer" in reasons["bad.jsonl:9"]
    assert "must be an object" in reasons["bad.jsonl:10"]
    assert "null" in reasons["bad.jsonl:11"]


def test_csv_with_header_tsv_and_headerless_csv(tmp_path):
    (tmp_path / "h.csv").write_text('sentence,polarity\n"a, quoted, text",positive\nplain,0\n', encoding="utf-8")
    good, bad = read_all(tmp_path / "h.csv", ColumnSpec(text="sentence", label="polarity"))
    assert [(e.text, e.label) for e in good] == [("a, quoted, text", 1), ("plain", 0)] and not bad
    (tmp_path / "t.tsv").write_text("text\tlabel\nhello there\t1\nbad\t1\textra\n", encoding="utf-8")
    good, bad = read_all(tmp_path / "t.tsv")
    assert [e.text for e in good] == ["hello there"]
    assert bad == [("t.tsv:3", "expected 2 fields, got 3")]
    (tmp_path / "n.csv").write_bytes(b"\xef\xbb\xbf1,great\n-1,awful\n")
    labels = LabelSpace({0: "negative", 1: "positive"}, parse_label_map("-1=negative,1=positive"))
    good, bad = read_all(tmp_path / "n.csv", ColumnSpec(text="1", label="0"), labels, csv_header=False)
    assert [(e.text, e.label) for e in good] == [("great", 1), ("awful", 0)] and not bad


def test_csv_undecodable_bytes_are_dead_lettered_and_long_fields_read_as_in_jsonl(tmp_path):
    long_text = "x" * 200_000
    (tmp_path / "u.csv").write_bytes(b"text,label\nfine,1\nbad \xff byte,0\n" + long_text.encode() + b",1\nafter,0\n")
    good, bad = read_all(tmp_path / "u.csv")
    assert [e.text for e in good] == ["fine", long_text, "after"]
    assert bad == [("u.csv:3", "undecodable bytes (not UTF-8)")]
    write_jsonl(tmp_path / "u.jsonl", [{"text": long_text, "label": 1}])
    assert [e.text for e in read_all(tmp_path / "u.jsonl")[0]] == [long_text]  # parity with JSONL
    assert read_in_ranges(tmp_path / "u.csv", 4096)[1] == read_in_ranges(tmp_path / "u.csv", None)[1]


def test_csv_integral_float_labels_read_as_ints(tmp_path):
    """pandas writes an int column with gaps as floats: 1.0 is label 1, in a plain read and through a map."""
    (tmp_path / "f.csv").write_text("text,label\na good film,1.0\na bad film,0.0\nno label,\nhalf,0.5\n")
    good, bad = read_all(tmp_path / "f.csv", ColumnSpec(label="label"))
    assert [(e.text, e.label) for e in good] == [("a good film", 1), ("a bad film", 0), ("no label", None)]
    assert bad == [("f.csv:5", "unknown label name '0.5'; the teacher's labels are ['negative', 'positive']")]
    mapped = LabelSpace({0: "negative", 1: "positive"}, parse_label_map("-1=negative,1=positive"))
    (tmp_path / "m.csv").write_text("text,label\nup,1.0\ndown,-1.0\n")
    assert [e.label for e in read_all(tmp_path / "m.csv", labels=mapped)[0]] == [1, 0]


def test_an_unbalanced_quote_is_named_and_every_swallowed_line_accounted_for(tmp_path):
    (tmp_path / "q.csv").write_text('text,label\nfine,1\n"never closed,0\nswallowed,1\nalso swallowed,0\n')
    good, bad = read_all(tmp_path / "q.csv")
    assert [e.text for e in good] == ["fine"]
    assert [pos for pos, _ in bad] == ["q.csv:3", "q.csv:4", "q.csv:5"]
    assert all('unbalanced quote: a field opened with " on line 3 is not closed, so lines 3-5' in r for _, r in bad)
    records = [rec for unit in plan_read_units(str(tmp_path / "q.csv")) for rec in read_unit(unit)]
    assert [r.raw for r in records[1:]] == ["never closed,0", "swallowed,1", "also swallowed,0"]


def test_parquet_row_groups_are_units_and_pairs_are_read(tmp_path):
    table = pa.table(
        {
            "premise": [f"p{i}" for i in range(10)],
            "hypothesis": [f"h{i}" for i in range(10)],
            "label": [i % 3 for i in range(10)],
        }
    )
    pq.write_table(table, tmp_path / "nli.parquet", row_group_size=4)
    units = plan_read_units(str(tmp_path / "nli.parquet"))
    assert [u.part for u in units] == [0, 1, 2]
    labels = LabelSpace({0: "a", 1: "b", 2: "c"})
    good, bad = read_all(tmp_path / "nli.parquet", ColumnSpec("premise", "hypothesis"), labels)
    assert [(e.text, e.text_pair, e.label, e.position) for e in good][5] == ("p5", "h5", 2, "nli.parquet:5")
    assert len(good) == 10 and not bad


def test_saved_datasets_directory_and_dataset_dict(tmp_path):
    import datasets

    ds = datasets.Dataset.from_dict({"text": ["good", "bad", "fine"], "label": [1, 0, 1]})
    ds.save_to_disk(str(tmp_path / "single"))
    good, _ = read_all(tmp_path / "single")
    assert [e.text for e in good] == ["good", "bad", "fine"]
    dd = datasets.DatasetDict({"train": ds, "validation": ds.select([0])})
    dd.save_to_disk(str(tmp_path / "dict"))
    good, _ = read_all(tmp_path / "dict", split="validation")
    assert [e.text for e in good] == ["good"]
    with pytest.raises(CorpusError, match="not 'test'"):
        plan_read_units(str(tmp_path / "dict"), split="test")


def test_directory_of_jsonl_files(tmp_path):
    (tmp_path / "d").mkdir()
    write_jsonl(tmp_path / "d" / "b.jsonl", [{"text": "two", "label": 0}])
    write_jsonl(tmp_path / "d" / "a.jsonl", [{"text": "one", "label": 1}])
    good, _ = read_all(tmp_path / "d")
    assert [(e.text, e.position) for e in good] == [("one", "a.jsonl:1"), ("two", "b.jsonl:1")]


def test_missing_column_and_label_mismatch_fail_fast(tmp_path):
    p = write_jsonl(tmp_path / "c.jsonl", [{"sentence": "x", "label": "pos"}])
    units = plan_read_units(str(p))
    with pytest.raises(CorpusError, match=r"column 'text' \(text_column=\) is not in the corpus"):
        check_columns(units, ColumnSpec())
    with pytest.raises(CorpusError, match="none of the corpus labels"):
        check_labels(units, "label", LabelSpace({0: "LABEL_0", 1: "LABEL_1"}))
    check_labels(units, "label", LabelSpace({0: "neg", 1: "pos"}))  # names that match pass
    with pytest.raises(CorpusError, match="does not exist"):
        plan_read_units(str(tmp_path / "nope.jsonl"))
    with pytest.raises(CorpusError, match="extension"):
        plan_read_units(str((tmp_path / "c.txt").write_text("x") and tmp_path / "c.txt"))


def read_in_ranges(path, range_bytes, **kw):
    """Every byte range read on its own, as workers do, each from the RangeStart the scan found."""
    units = plan_read_units(str(path), range_bytes=range_bytes, **kw)
    starts = find_range_starts(units) if units[0].end is not None else [None]
    assert len(starts) == len(units)
    return units, [rec for unit, start in zip(units, starts) for rec in read_unit(unit, start)]


JSONL_BYTES = b"".join(
    [
        b'\xef\xbb\xbf{"text": "first, after a byte-order mark", "label": 1}\n',
        b"\n",
        b'{"text": "caf\xc3\xa9 cr\xc3\xa8me \xf0\x9f\x8e\xac", "label": 0}\r\n',
        b'{"text": "broken\n',
        b'{"text": "latin-1 caf\xe9", "label": 1}\n',
        b"   \n",
        b"[1, 2]\n",
        b'{"text": "' + b"long " * 40 + b'", "label": 0}\n',
        b'{"text": "the last line has no newline", "label": 1}',
    ]
)

CSV_BYTES = b"".join(
    [
        b"\xef\xbb\xbftext,label\r\n",
        b"plain,1\r\n",
        b'"a quoted, text",0\n',
        b"\n",
        b'"a field over\nthree lines,\r\nwith ""quotes"" in it",1\n',
        b'a 5" screen and an unquoted quote,0\n',
        b'"""quoted"" first",1\n',
        b"one,two,three\n",
        b"bad \xff byte,0\n",
        b"caf\xc3\xa9 cr\xc3\xa8me,1\n",
        b'"ends inside ""quotes""\n and a newline",0',
    ]
)


@pytest.mark.parametrize(
    "name,data,kw",
    [
        ("c.jsonl", JSONL_BYTES, {}),
        ("c.csv", CSV_BYTES, {}),
        ("c.tsv", CSV_BYTES.replace(b",", b"\t"), {}),
        ("n.csv", CSV_BYTES, {"csv_header": False}),
        ("r.csv", CSV_BYTES.replace(b"\r\n", b"\n").replace(b"\n", b"\r"), {}),
    ],
)
def test_byte_ranges_read_exactly_the_records_of_the_whole_file(tmp_path, name, data, kw):
    """Split at every size, down to one byte: the same records, positions, raw text and errors as one read
    of the whole file (blank lines, BOM, CRLF and CR line ends, quoted newlines, bad bytes, no last newline)."""
    path = tmp_path / name
    path.write_bytes(data)
    units, whole = read_in_ranges(path, None, **kw)
    assert len(units) == 1 and units[0].end is None
    # Positions are the first physical line of each record (blank lines skipped, quoted newlines counted).
    if name.endswith(".jsonl"):
        lines = (1, 3, 4, 5, 7, 8, 9)
    else:  # without a header, line 1 is a record too
        lines = (1,) * ("csv_header" in kw) + (2, 3, 5, 8, 9, 10, 11, 12, 13)
    assert [r.position for r in whole] == [f"{name}:{n}" for n in lines]
    for range_bytes in (1, 2, 3, 5, 8, 13, 21, 40, 97, len(data) - 1):
        units, records = read_in_ranges(path, range_bytes, **kw)
        assert [(u.start, u.end) for u in units] == [
            (a, min(a + range_bytes, len(data))) for a in range(0, len(data), range_bytes)
        ]
        assert records == whole, range_bytes
    assert len(read_in_ranges(path, len(data), **kw)[0]) == 1  # not larger than a range: one unit


@pytest.mark.parametrize("suffix,opener", [(".gz", "gzip"), (".bz2", "bz2"), (".xz", "lzma")])
def test_compressed_text_files_read_like_plain_ones_and_whole(tmp_path, suffix, opener):
    import importlib

    compress = importlib.import_module(opener).compress
    for name, data in (("c.jsonl", JSONL_BYTES), ("c.csv", CSV_BYTES)):
        (tmp_path / name).write_bytes(data)
        (tmp_path / "z").mkdir(exist_ok=True)
        (tmp_path / "z" / (name + suffix)).write_bytes(compress(data))
        plain = [(r.position, r.fields, r.raw, r.error) for r in read_in_ranges(tmp_path / name, None)[1]]
        units, records = read_in_ranges(tmp_path / "z" / (name + suffix), 10)  # never split: no seeking into it
        assert len(units) == 1 and units[0].end is None
        assert [(r.position.replace(suffix, ""), r.fields, r.raw, r.error) for r in records] == plain
    # A directory of compressed JSONL and plain JSONL files is one JSONL corpus.
    write_jsonl(tmp_path / "z" / "d.jsonl", [{"text": "plain", "label": 1}])
    assert [u.rel for u in plan_read_units(str(tmp_path / "z"), "jsonl")] == ["c.jsonl" + suffix, "d.jsonl"]
    with pytest.raises(CorpusError, match="cannot tell the format"):
        plan_read_units(str(tmp_path / "z"))  # JSONL and CSV files together


def test_byte_ranges_of_a_file_on_a_remote_filesystem(request):
    """Through fsspec as on gs:// (here its in-memory filesystem): ranges are planned, scanned and read."""
    import fsspec

    fs, root = fsspec.filesystem("memory"), f"/{request.node.name}"
    request.addfinalizer(lambda: fs.rm(root, recursive=True))
    fs.pipe(f"{root}/c.csv", CSV_BYTES)
    whole = [r for u in plan_read_units(f"memory://{root}/c.csv") for r in read_unit(u)]
    units = plan_read_units(f"memory://{root}/c.csv", range_bytes=7)
    assert len(units) > 20 and units[3].path == f"memory://{root}/c.csv"
    assert [r for u, st in zip(units, find_range_starts(units)) for r in read_unit(u, st)] == whole


def test_a_range_is_never_read_without_its_start(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"text": f"sentence {i}", "label": i % 2} for i in range(50)])
    units = plan_read_units(str(path), range_bytes=100)
    with pytest.raises(ValueError, match="needs its start"):
        list(read_unit(units[1]))
    check_columns(units, ColumnSpec())  # the checks before a job sample the file's start only
    good, _ = read_all(path, range_bytes=0)
    assert len(good) == 50


def test_label_names_are_matched_case_insensitively_and_label_map_is_strict():
    assert LABELS.resolve("Positive") == 1 and LABELS.resolve("0") == 0 and LABELS.resolve(1.0) == 1
    assert LABELS.resolve(None) is None and LABELS.resolve("") is None
    mapped = LabelSpace({0: "negative", 1: "positive"}, {"-1": "negative", "1": "1"})
    assert mapped.resolve(-1) == 0 and mapped.resolve("1") == 1
    with pytest.raises(BadRecord, match="not in --label-map"):
        mapped.resolve("0")
    with pytest.raises(BadRecord, match="type bool"):
        LABELS.resolve(True)
    assert json.dumps(parse_label_map("a=1, b = 2")) == '{"a": "1", "b": "2"}'
