"""The Python API in a notebook or script: run (or resume) a study and read its results.

    python examples/python_api.py study/config.yaml

Runs every stage that is not yet done (exactly what `sonomics run` does), then shows
Table 7 and the nomogram's test-set probabilities as pandas DataFrames.
"""

from __future__ import annotations

import sys

import sonomics


def main(config: str) -> None:
    study = sonomics.Study.from_config(config)
    study.run()                      # resumes: finished, unchanged stages are skipped
    print("Table 7. Performance of all models")
    print(study.table(7).to_string(index=False))
    nomogram = study.predictions("nomogram")
    print(nomogram[nomogram["split"] == "test"].head())


if __name__ == "__main__":
    main(sys.argv[1])
