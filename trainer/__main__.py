"""``python -m trainer COMMAND ...``: one entry point for every trainer command (``core.cli``)."""

from __future__ import annotations

import os
import sys

from core.cli import dispatch

COMMANDS = {
    "prepare": ("trainer.prepare", "clean and split (anchor, positive) pairs into a dataset folder"),
    "train": ("trainer.train", "fine-tune a model; resumes from the latest complete checkpoint"),
    "runs": ("trainer.runs", "list the runs of an experiment with their metrics, best first"),
    "sagemaker": ("trainer.sagemaker", "launch `train` as an Amazon SageMaker training job (--dry-run)"),
    "push": ("trainer.push", "upload a model folder or model.tar.gz to the Hub with a model card"),
    "predict": ("trainer.predict", "score sentence pairs or write embeddings with a model"),
}


# The flag that names a model, per command: checked before the command's heavy imports (torch,
# transformers: ~10 s), so that a mistyped folder is said at once.
MODEL_FLAGS = {"train": "--model_name_or_path", "predict": "--model", "push": "--model"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not sys.stderr.isatty():  # a log, not a terminal: tqdm's bars (set before tqdm is imported) off
        os.environ.setdefault("TQDM_DISABLE", "1")
    flag = MODEL_FLAGS.get(argv[0]) if argv else None
    if flag:
        from core.errors import WorkbenchError
        from core.models.loader import check_spec

        for index, value in enumerate(argv[:-1]):
            if value == flag:
                try:
                    check_spec(argv[index + 1])
                except WorkbenchError as err:
                    print(f"error: {err}", file=sys.stderr)
                    return 2
    return dispatch("python -m trainer", COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
