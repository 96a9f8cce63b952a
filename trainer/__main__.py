"""``python -m trainer COMMAND ...``: one entry point for every trainer command."""

from __future__ import annotations

import sys

COMMANDS = {
    "prepare": ("trainer.prepare", "clean and split (anchor, positive) pairs into a dataset folder"),
    "train": ("trainer.train", "fine-tune a model; resumes from the latest complete checkpoint"),
    "runs": ("trainer.runs", "list the runs of an experiment with their metrics, best first"),
    "sagemaker": ("trainer.sagemaker", "launch `train` as an Amazon SageMaker training job (--dry-run)"),
    "push": ("trainer.push", "upload a model folder or model.tar.gz to the Hub with a model card"),
    "predict": ("trainer.predict", "score sentence pairs or write embeddings with a model"),
}
_COMMAND_LINES = "\n".join(f"  {name:<10} {text}" for name, (_, text) in COMMANDS.items())
USAGE = f"usage: python -m trainer {{{','.join(COMMANDS)}}} [--help] ...\n\ncommands:\n{_COMMAND_LINES}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"error: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    module = __import__(COMMANDS[command][0], fromlist=["main"])
    return module.main(rest)


if __name__ == "__main__":
    sys.exit(main())
