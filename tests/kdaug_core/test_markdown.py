import pytest

from kdaug.core.markdown import table


def test_a_table_aligns_numbers_right_and_text_left():
    lines = table(["model", "accuracy"], [["teacher", 82.8], ["student | KD", "77.3 ± 0.6"]], "lr")
    assert lines == ["| model | accuracy |", "|---|---:|", "| teacher | 82.8 |", "| student \\| KD | 77.3 ± 0.6 |"]
    with pytest.raises(ValueError, match="one of l/r for each of the 2 columns"):
        table(["a", "b"], [], "l")
