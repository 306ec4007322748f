"""Beam transforms and pipelines: thin wrappers over kdaug_core's pure functions."""

import importlib.util
import logging


def _import_beams_bigquery_clients_quietly() -> None:
    """Without Beam's GCP extra (no apitools), Beam logs "apitools not found, and bigquery client libraries
    are not available..." through the root logger when it first imports its BigQuery clients, which a
    local materialize does mid-run, and that call also configures the root logger of the caller's
    process. Nothing kdaug runs locally needs those clients (the Dataflow extra brings apitools), so the
    module is imported once here with the root logger held quiet: later imports find it loaded."""
    if importlib.util.find_spec("apitools") is not None:
        return  # the clients import cleanly; nothing to silence
    root, hold = logging.getLogger(), logging.NullHandler()
    root.addHandler(hold)  # a handler present: no basicConfig() behind the caller's back, nothing printed
    try:
        import apache_beam.io.gcp.internal.clients.bigquery  # noqa: F401
    except Exception:  # noqa: BLE001 - a Beam without GCP modules at all: nothing to silence either
        pass
    finally:
        root.removeHandler(hold)


_import_beams_bigquery_clients_quietly()
