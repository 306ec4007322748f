from kdaug.core.counts import RunCounts
from kdaug.core.publishing.manifest import split_manifest


def rows(*methods_and_ratios):
    return [
        {
            "aug_method": m,
            "changed_ratio": r,
            "teacher_kl_to_source": None if m == "original" else 0.5,
            "truncated": False,
        }
        for m, r in methods_and_ratios
    ]


def test_partial_counts_sum_field_by_field():
    parts = [
        RunCounts.read(3),
        RunCounts.read(2),
        RunCounts.augmented("synonym.0", requested=8, written=7),
        RunCounts.augmented("synonym.0", requested=4, written=4),
        RunCounts.written(
            "train-00000-00000.parquet",
            rows(("original", 0.0), ("synonym", 0.25), ("synonym", 0.5)),
            data_bytes=100,
            soft_label_bytes=10,
        ),
        RunCounts.written("train-00000-00001.parquet", rows(("original", 0.0), ("synonym", 0.25)), 50, 5),
        RunCounts.dead_lettered(
            "train-00000-of-00001.jsonl",
            [{"stage": "read", "copy": False}, {"stage": "read", "copy": False}, {"stage": "label", "copy": True}],
        ),
    ]
    total = RunCounts.total(parts)
    assert total == RunCounts.total(reversed(parts))  # the order the runner delivers them in does not matter
    assert total.records_read == 5
    assert total.copies_requested == {"synonym.0": 12} and total.copies_written == {"synonym.0": 11}
    assert total.rows == {"original": 2, "synonym": 3}
    assert total.changed_ratio_sum == {"original": 0.0, "synonym": 1.0}
    assert total.data_bytes == 150 and total.soft_label_bytes == 15
    assert total.data_files == {"train-00000-00000.parquet", "train-00000-00001.parquet"}
    assert total.dead_letters == {"read": 2} and total.copy_dead_letters_by_stage == {"label": 1}
    assert total.source_dead_letters == 2 and total.copy_dead_letters == 1


def test_sums_of_floats_do_not_depend_on_the_order_chunks_arrive_in():
    ratios = [0.1, 0.2, 0.3]
    assert (0.1 + 0.2) + 0.3 != (0.3 + 0.2) + 0.1  # float addition is not associative
    parts = [RunCounts.written(f"f{i}", rows(("synonym", r)), 1, 1) for i, r in enumerate(ratios)]
    forward, backward = RunCounts.total(parts), RunCounts.total(reversed(parts))
    assert forward == backward and forward.changed_ratio_sum == backward.changed_ratio_sum
    assert abs(forward.changed_ratio_sum["synonym"] - 0.6) < 1e-9


def test_chunks_staged_with_float_sums_are_still_read():
    legacy = RunCounts.written("f", rows(("synonym", 0.25)), 1, 1).to_dict()
    legacy["changed_ratio_sum"] = {"synonym": 0.25}
    legacy["kl_to_source_sum"] = {"synonym": 0.5}
    del legacy["changed_ratio_fixed_sum"], legacy["kl_to_source_fixed_sum"]
    counts = RunCounts.from_dict(legacy)
    assert counts.changed_ratio_sum == {"synonym": 0.25} and counts.kl_to_source_sum == {"synonym": 0.5}


def test_the_manifest_reads_the_typed_counts():
    total = RunCounts.total(
        [
            RunCounts.read(3),
            RunCounts.augmented("synonym.0", 4, 3),
            RunCounts.written(
                "f.parquet", rows(("original", 0.0), ("original", 0.0), ("synonym", 0.2), ("synonym", 0.4)), 80, 8
            ),
            RunCounts.dead_lettered("d.jsonl", [{"stage": "read", "copy": False}]),
        ]
    )
    recipe = {"soft_labels": None, "augment": [{"method": "synonym", "ratio": 0.3}]}
    entry = split_manifest(total, recipe, {}, "cmd", ["data/f.parquet"], ["dead_letter/d.jsonl"])
    assert entry["records_read"] == 3 and entry["records_written"] == 2 and entry["records_dead_lettered"] == 1
    assert entry["reconciles"]
    assert entry["rows_per_method"] == {"original": 2, "synonym": 2}
    assert abs(entry["mean_changed_ratio"]["synonym"] - 0.3) < 1e-12
    assert entry["augment"] == {
        "synonym.0": {"method": "synonym", "requested": 4, "written": 3, "short": 1, "short_text": 0}
    }
    assert entry["teacher_kl_to_source_mean"] == {"synonym": 0.5}
    assert entry["storage"]["bytes_per_row"] == 20.0
