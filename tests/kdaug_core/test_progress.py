import logging

from kdaug.core.progress import Progress


def test_without_a_bar_progress_is_logged_with_position_total_and_status(caplog):
    with caplog.at_level(logging.INFO, logger="kdaug"):
        progress = Progress("run: epoch 1/2", "steps", total=10, initial=3, bar=False, log_every_s=0.0)
        progress.update(2, loss="0.5000")
        progress.close()
    [line] = [r.getMessage() for r in caplog.records]
    assert line.startswith("run: epoch 1/2: 5/10 steps (") and line.endswith(", loss 0.5000)")


def test_log_lines_are_spaced_by_the_interval(caplog):
    with caplog.at_level(logging.INFO, logger="kdaug"):
        progress = Progress("labelling", bar=False, log_every_s=3600.0)
        for _ in range(100):
            progress.update(10)
    assert caplog.records == []  # not an hour yet
    assert progress.position == 1000
