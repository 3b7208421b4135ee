"""The ``mmsafe`` console script installed by ``pip install mmsafe``: the
same command line as the Rust binary, run in-process."""

from __future__ import annotations

import sys


def main() -> None:
    from . import _native

    argv = ["mmsafe", *sys.argv[1:]]
    sys.exit(_native.run_cli(argv))


if __name__ == "__main__":
    main()
