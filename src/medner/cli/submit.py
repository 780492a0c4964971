"""Entry file for ``spark-submit``: the ``medner batch`` command under a cluster's Spark.

    spark-submit --master yarn [spark options] "$(python -m medner.cli.submit --path)" \\
        --model model --input s3a://notes/ --output s3a://entities/

The master and every Spark setting then come from ``spark-submit``, not from ``--master``.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> None:
    """Run ``medner batch`` with ``argv``; the Spark master is left to spark-submit."""
    if argv[:1] == ["--path"]:
        print(__file__)
        return
    from medner.cli.main import app

    if "--master" not in argv:
        argv = [*argv, "--master", ""]
    app(["batch", *argv], prog_name="medner batch")


if __name__ == "__main__":
    main(sys.argv[1:])
