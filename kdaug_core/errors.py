"""The one base of kdaug's own errors.

Every error kdaug raises on purpose (a bad argument, a missing model, column or asset, an unreadable
corpus, a dataset of another schema) derives from KdaugError and says in its message what is wrong and
what to do. The command line turns any of them into one line and exit code 2; code that calls kdaug can
catch KdaugError and let everything else (a bug) propagate. Each subclass also derives from the
built-in exception it is (ValueError, RuntimeError), so older `except ValueError` code keeps working.
"""


class KdaugError(Exception):
    """A problem with kdaug's input or set-up, explained by the message."""
