"""Build a backend variant in a process of its own, for the jobs that run beside visitors (the app's
warm-up): the ONNX export, its shape inference and protobuf (de)serialisation hold Python's GIL for
seconds at a time, and in the serving process they stalled every request meanwhile (a search every 0.5 s
during the first build: 3 of ~150 over 5 s; ``py-spy record --gil``). A child process shares no GIL, runs
at a lower priority, and takes the export's peak memory with it when it exits. The variant lands in the
cache exactly as an in-process build writes it (``core.models.backends``: one build across processes,
under a file lock); the parent then loads and checks it.

``python -m core.models.apart MODEL_DIR FINGERPRINT BACKEND ERROR_FILE`` is the child's side.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from core.models.backends import BackendError, is_built
from core.paths import PROJECT_ROOT

logger = logging.getLogger(__name__)

BUILD_TIMEOUT_S = 1800  # a build takes 1-2 minutes on 2 vCPUs; past half an hour something is wrong
NICE = 10  # the child yields the CPU to the serving process


def build_apart(model, fingerprint: str, name: str) -> None:
    """Build backend ``name`` of ``model`` (fingerprint ``fingerprint``) in a child process, unless it is
    built already. The child's log lines go to this process' stderr as they come.

    Raises:
        BackendError: The child could not build it (its reason), or did not finish in time.
    """
    if is_built(name, fingerprint):
        return
    with tempfile.TemporaryDirectory(prefix="variant-") as folder:
        weights, error = Path(folder) / "model", Path(folder) / "error.txt"
        model.save(str(weights))
        command = [sys.executable, "-m", "core.models.apart", str(weights), fingerprint, name, str(error)]
        try:
            done = subprocess.run(
                command, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, timeout=BUILD_TIMEOUT_S
            )
        except subprocess.TimeoutExpired as err:
            raise BackendError(f"building {name} took over {BUILD_TIMEOUT_S} s; stopped") from err
        if done.returncode != 0:
            reason = error.read_text(encoding="utf-8").strip() if error.is_file() else ""
            raise BackendError(reason or f"exit status {done.returncode}")
    if not is_built(name, fingerprint):
        raise BackendError(f"the build process ended without a {name} variant")


def main(argv: list[str] | None = None) -> int:
    """The child: load the saved model, build the variant into the cache, write the reason on failure."""
    weights, fingerprint, name, error = argv if argv is not None else sys.argv[1:]
    os.nice(NICE)
    _end_with_the_parent(Path(weights).parent)
    os.environ["TQDM_DISABLE"] = "1"  # no progress bars in the server's log (loading, saving shards)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("core.models.backends").setLevel(logging.INFO)  # "Building the ... backend"
    try:
        from transformers.utils import logging as transformers_logging

        from core.models.backends import variant
        from core.models.loader import load_model

        transformers_logging.set_verbosity_error()
        transformers_logging.disable_progress_bar()
        variant(load_model(weights, device="cpu"), fingerprint, name)
    except Exception as err:  # export, quantisation and conversion raise many kinds
        Path(error).write_text(f"{type(err).__name__}: {err}"[:500], encoding="utf-8")
        return 1
    return 0


def _end_with_the_parent(scratch: Path) -> None:
    """End this process when the one that started it is gone (a stopped server): no orphan keeps the CPU.
    The parent's copy of the model (``scratch``) is removed; the variant is renamed into place only when
    complete, and the next build removes the staging folder left behind (``backends._built_once``)."""
    import shutil
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        shutil.rmtree(scratch, ignore_errors=True)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
