"""Entry script of SageMaker training jobs (``SourceCode.entry_script``).

SageMaker runs ``python trainer/sagemaker_entry.py --key value ...`` (or the same under torchrun) from
the uploaded source folder, with the hyperparameters as flags; this runs ``python -m trainer train``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trainer.train import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
