"""``python -m limelight.serving --model recs=recs@champion ...``: the server without the CLI."""

from __future__ import annotations

import argparse
import sys

from limelight.core.errors import LimelightError
from limelight.serving._server import serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m limelight.serving")
    parser.add_argument("--model", action="append", required=True, help="SLOT=MODEL_REF")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--ready-file")
    parser.add_argument("--max-body-bytes", type=int)
    parser.add_argument("--max-k", type=int)
    parser.add_argument("--poll-seconds", type=float)
    parser.add_argument("--body-timeout", type=float)
    parser.add_argument("--probe-seconds", type=float, help="time limit of a model's load probe")
    parser.add_argument("--header-timeout", type=float)
    parser.add_argument("--feedback-ttl", type=float)
    parser.add_argument("--graceful-seconds", type=float)
    parser.add_argument("--log-level")
    parser.add_argument("--blas-threads", type=int, help="BLAS threads per worker (default 1)")
    args = vars(parser.parse_args(argv))
    models = args.pop("model")
    fixed = {k: args.pop(k) for k in ("host", "port", "workers", "ready_file")}
    options = {k: v for k, v in args.items() if v is not None}
    try:
        return serve(models, **fixed, **options)
    except LimelightError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
