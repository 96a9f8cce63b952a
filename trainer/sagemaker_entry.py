"""Entry script of SageMaker jobs (``SourceCode.entry_script``).

SageMaker runs ``python trainer/sagemaker_entry.py --key value ...`` (or the same under torchrun) from
the uploaded source folder, with the hyperparameters as flags; this runs ``python -m trainer train``, or,
with ``--task embed``, ``python -m trainer predict --embed`` (a channel folder holding one corpus file is
that file).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CORPUS_SUFFIXES = (".txt", ".csv", ".tsv", ".jsonl", ".json")


def run(argv: list[str]) -> int:
    if "--task" not in argv:
        from trainer.train import main

        return main(argv)
    at = argv.index("--task")
    task, argv = argv[at + 1], argv[:at] + argv[at + 2 :]
    if task != "embed":
        from trainer.train import main

        return main(argv)
    from trainer.predict import main

    if "--embed" in argv:
        at = argv.index("--embed") + 1
        folder = Path(argv[at])
        if folder.is_dir():
            files = sorted(p for p in folder.iterdir() if p.suffix.lower() in CORPUS_SUFFIXES)
            if len(files) != 1:
                print(f"error: {folder} must hold exactly one corpus file ({', '.join(CORPUS_SUFFIXES)})")
                return 2
            argv[at] = str(files[0])
    return main(argv)


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
