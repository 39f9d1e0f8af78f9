"""The run store: one folder per training run, written by :class:`RunWriter`, read without torch.

Layout and schema: docs/architecture.md ("Run store"). Importing this package pulls in numpy,
pandas and the standard library only (no torch, umap, sklearn or streamlit), so the dashboard
can use it at start-up.

Writing::

    with RunWriter.create(store, "my-run", {"config": cfg, "progress": {"total_steps": 500}}) as w:
        w.log_scalars(step, {"loss": 0.3})
        w.write_snapshot(step, embeddings=emb, labels=y, proxies=P)
        w.set_status("finished")

Reading::

    run = open_run(store, "my-run")
    run.scalars(["loss"]), run.snapshot(run.snapshot_steps()[-1]).embeddings
"""
from .atomic import atomic_write_bytes, atomic_write_json
from .images import read_eval_images, to_thumbnails, write_eval_images
from .layout import (
    SCHEMA_VERSION, STATUSES, RunError, RunExistsError, default_store, run_dir, validate_run_name,
)
from .reader import Progress, Run, RunSummary, list_runs, open_run
from .snapshot import SNAPSHOT_ARRAYS, Snapshot
from .writer import RunWriter

__all__ = [
    "RunError", "RunExistsError", "validate_run_name", "default_store", "run_dir", "SCHEMA_VERSION", "STATUSES",
    "RunWriter", "atomic_write_bytes", "atomic_write_json", "read_eval_images", "write_eval_images", "to_thumbnails",
    "Run", "RunSummary", "Progress", "Snapshot", "SNAPSHOT_ARRAYS", "list_runs", "open_run",
    "write_fake_run",
]


def __getattr__(name: str):
    # fake.py is only for tests, demos and the dashboard's development; load it on first use.
    if name == "write_fake_run":
        from .fake import write_fake_run

        return write_fake_run
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
