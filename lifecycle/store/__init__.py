"""The only state the driver and the cluster share: `Store` (a folder or any `pyarrow.fs`
location: s3://, gs://, ...) and the append-only run `Journal` on it.

Imported by `lifecycle.execute` (the driver) and `lifecycle.runtime` (code inside Ray)
alike; it imports only pyarrow and the standard library, never Ray, MLflow or the
compiler's packages."""

from .journal import Journal, list_runs, new_run_id, read_journal
from .store import Store

__all__ = ["Journal", "Store", "list_runs", "new_run_id", "read_journal"]
