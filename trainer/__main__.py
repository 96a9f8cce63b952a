"""``python -m trainer COMMAND ...``: one entry point for every trainer command (``core.cli``)."""

from __future__ import annotations

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


def main(argv: list[str] | None = None) -> int:
    return dispatch("python -m trainer", COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
