"""The ``ftbuild`` command: a thin layer over :mod:`hf_ftbuilder`'s functions."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from . import __version__
from .config import STAGES, WEB_SOURCE_TYPES, load_config
from .errors import FtBuilderError
from .pipeline import build, crawl, export_tasks
from .progress import no_bars, quiet_libraries
from .push import push
from .review import review
from .write import rerender_card

__all__ = ["main"]


def _common(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """-v, -q and --debug, on the top level and on every subcommand (either place works).

    The subcommands' copies default to SUPPRESS, so ``ftbuild -q build r.yaml`` keeps the
    top level's ``-q`` and ``ftbuild build r.yaml -q`` sets it.
    """
    default = {} if top else {"default": argparse.SUPPRESS}
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-v", "--verbose", action="store_true", help="debug logging", **default)
    group.add_argument("-q", "--quiet", action="store_true",
                       help="warnings and errors only: no progress bars, no library notices", **default)
    parser.add_argument("--debug", action="store_true", help="show the full traceback of errors", **default)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ftbuild", description="Build fine-tuning datasets from YAML recipes.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _common(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, **kwargs: str) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, **kwargs)
        _common(cmd, top=False)
        return cmd

    build = command("build", help="build a dataset from a recipe")
    build.add_argument("recipe", help="the YAML recipe")
    build.add_argument("--output", "-o", help="output folder (default: output.dir or build/<name>)")
    build.add_argument("--overwrite", action="store_true", default=None, help="replace an earlier build")
    build.add_argument("--until", choices=STAGES, help="stop after this stage and write what stands")
    build.add_argument("--refresh", action="store_true", help="fetch web pages again, ignoring the fetch cache")

    crawl = command("crawl", help="run the collect stage only (fetch web sources into the cache) and report")
    crawl.add_argument("recipe", help="the YAML recipe")
    crawl.add_argument("--refresh", action="store_true", help="fetch web pages again, ignoring the fetch cache")

    label = command("label", help="manual labelling: export annotation tasks")
    label_sub = label.add_subparsers(dest="label_command", required=True)
    export = label_sub.add_parser("export", help="write one annotation task per row (after dedup)")
    _common(export, top=False)
    export.add_argument("recipe", help="the YAML recipe")
    export.add_argument("--format", choices=("csv", "jsonl", "label-studio"), default="csv", dest="fmt")
    export.add_argument("--output", "-o", help="the tasks file (default: <recipe folder>/<name>-tasks.<ext>, "
                        "or <name>-ask.<ext> with --ask)")
    export.add_argument("--ask", action="store_true",
                        help="only the rows the latest build asks about (label.ask), from its review/ask.parquet")
    export.add_argument("--build", help="with --ask: the build folder (default: output.dir or build/<name>)")

    push = command("push", help="upload a built folder to a dataset repo on the Hub")
    push.add_argument("output", help="the build folder")
    push.add_argument("--repo-id", required=True, help="org/name")
    push.add_argument("--private", action="store_true", help="create the repo private")
    push.add_argument("--revision", help="a branch to push to (created if missing; default main)")
    push.add_argument("--include-review", action="store_true", help="also upload dropped/ and review/")
    push.add_argument("--dry-run", action="store_true", help="list what would be uploaded and deleted; write nothing")

    card = command("card", help="redo a build's README card and plots from its quality.json (after a template edit)")
    card.add_argument("output", help="the build folder")
    card.add_argument("--template", help="a Jinja card template (default: the shipped one)")

    rev = command("review", help="a local page to name clusters and label rows of the latest build; "
                                 "the next build applies every decision")
    rev.add_argument("recipe", help="the YAML recipe")
    rev.add_argument("--output", "-o", help="the build folder (default: output.dir or build/<name>)")
    rev.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    rev.add_argument("--allow-remote", action="store_true", help="allow a --host that is not loopback")
    rev.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    rev.add_argument("--annotator", help="who decides (default: the OS user)")
    rev.add_argument("--no-browser", action="store_true", help="print the URL but do not open a browser")

    validate = command("validate", help="check a recipe and print it with every default filled in")
    validate.add_argument("recipe", help="the YAML recipe")
    return parser


class _StderrHandler(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is when a record comes, not as it was when the CLI started
    (``main`` called twice in one process, under a test's or a notebook's captured stderr)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def _configure_logging(verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger("hf_ftbuilder")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    if quiet:
        quiet_libraries(logging.WARNING)


def _progress(quiet: bool) -> bool:
    """Bars only for a person watching: not with -q, and not into a file or a CI log."""
    return not quiet and sys.stderr.isatty()


def _what_stands(args: argparse.Namespace) -> str:
    """What an interrupted command leaves: no output is ever half-written; fetched pages are kept."""
    if args.command == "push":
        return "the Hub keeps its last complete commit; run the same push again to send it"
    recipe_path = getattr(args, "recipe", None)
    try:
        recipe = load_config(recipe_path) if recipe_path else None
    except FtBuilderError:
        recipe = None
    if recipe is not None and any(src.type in WEB_SOURCE_TYPES for src in recipe.sources):
        return "the pages fetched so far are in the fetch cache: run the same command again to resume from there"
    return "nothing was written; run the same command again to start over"


def main(argv: list[str] | None = None) -> int:
    """Run ``ftbuild``; returns the exit code (2 for project errors)."""
    args = _parser().parse_args(argv)
    _configure_logging(args.verbose, args.quiet)
    progress = _progress(args.quiet)
    if not progress:
        no_bars()
    try:
        if args.command == "validate":
            recipe = load_config(args.recipe)
            sys.stdout.write(recipe.to_yaml())
            return 0
        if args.command == "card":
            path = rerender_card(Path(args.output), template=Path(args.template) if args.template else None)
            print(f"wrote {path}")
            return 0
        if args.command == "push":
            result = push(args.output, args.repo_id, private=args.private, revision=args.revision,
                          include_review=args.include_review, dry_run=args.dry_run)
            for path, size in result.files.items():
                print(f"{size:>12,}  {path}")
            for path in result.deleted:
                print(f"{'delete':>12}  {path}")
            up, gone = ("would upload", "would delete") if result.dry_run else ("uploaded", "deleted")
            print(f"{up} {len(result.files)} files ({result.total_bytes:,} bytes) and {gone} "
                  f"{len(result.deleted)} files in {result.repo_id}@{result.revision}")
            return 0
        if args.command == "review":
            def ready(url: str, session: object) -> None:
                print(url, flush=True)

            review(args.recipe, output_dir=args.output, host=args.host, port=args.port,
                   allow_remote=args.allow_remote, annotator=args.annotator, open_browser=not args.no_browser,
                   on_ready=ready)
            return 0
        if args.command == "label":
            written = export_tasks(args.recipe, fmt=args.fmt, out=args.output, progress=progress, ask=args.ask,
                                   build_dir=args.build)
            print("wrote " + ", ".join(str(p) for p in written))
            return 0

        if args.command == "crawl":
            stats = crawl(args.recipe, refresh=args.refresh, progress=progress)
            fetch = stats.details.get("fetch", {})
            print(f"collected {stats.rows_out} of {stats.rows_in} pages; "
                  f"failed: {', '.join(f'{k}={v}' for k, v in stats.dropped.items()) or 'none'}; "
                  f"requests={fetch.get('requests', 0)}, from_cache={fetch.get('from_cache', 0)}")
            return 0
        result = build(args.recipe, output_dir=args.output, overwrite=args.overwrite, until=args.until,
                       refresh=args.refresh, progress=progress)
        sizes = ", ".join(f"{name}={entry['num_rows']}" for name, entry in result.quality["splits"].items())
        print(f"built {result.output_dir} ({sizes})")
        return 0
    except FtBuilderError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"interrupted; {_what_stands(args)}", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
