"""``mace4ir models REPO_OR_FOLDER``: the model files a release or Hub repo holds.

One row per model: kind (EF or dipole, read from the model), elements, channels, L, layers,
precision, parameters, and the mace-torch version that wrote the file where the file says
so. Then the pair ``mace4ir.load`` and ``--model`` use without ``--ef-file/--dipole-file``.
"""

from __future__ import annotations

import contextlib
import json
import sys

HEADER = ("file", "kind", "elements", "channels", "L", "layers", "precision", "parameters")
MAX_LISTED_ELEMENTS = 10


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "models",
        help="list the model files of a release folder or Hub repo",
        description="List the models a release folder or Hugging Face Hub repo holds (EF or "
        "dipole from the model itself; elements, size, precision, mace-torch version) and the "
        "pair used by default. mace-torch .model pickles are described only after unpickling "
        "them: pass --trust-pickle for a source you trust.",
    )
    p.add_argument("source", metavar="REPO_OR_FOLDER", help="release folder or Hub id ORG/NAME")
    p.add_argument("--revision", help="Hub branch, tag or commit")
    p.add_argument(
        "--trust-pickle",
        action="store_true",
        help="unpickle mace-torch .model files to read them (they can run code: only files "
        "you trust)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from mace4ir.training.models.model_choice import DEFAULT_RULE
    from mace4ir.training.models.release_files import list_models, resolve_release, verify_release

    folder = resolve_release(args.source, args.revision)
    verify_release(folder, where=args.source)
    with contextlib.redirect_stdout(sys.stderr):  # mace-torch prints notices when imported
        entries = list_models(folder, args.trust_pickle, where=args.source)
    defaults = default_pair(entries)
    if args.json:
        rows = [e.as_dict() for e in entries]
        print(json.dumps({"source": args.source, "models": rows, "default": defaults}, indent=2))
        return 0
    print(f"{args.source}: {len(entries)} model file(s)")
    print(table([row(e) for e in entries]))
    print(f"default EF: {defaults['ef']} (rule: {DEFAULT_RULE})")
    print(f"default dipole: {defaults['dipole']}")
    return 0


def default_pair(entries) -> dict[str, str]:
    """The file each kind defaults to, or why there is none."""
    from mace4ir.training.models.model_choice import KIND_NAMES, OPTION, default_candidates

    out = {}
    for kind in ("ef", "dipole"):
        found = [e.name for e in default_candidates(entries, kind)]
        if len(found) == 1:
            out[kind] = found[0]
        elif found:
            out[kind] = f"none: several fit ({', '.join(found)}), choose with {OPTION[kind]}"
        else:
            out[kind] = f"none: no {KIND_NAMES[kind]} model"
    return out


def row(entry) -> tuple[str, ...]:
    return (
        entry.name,
        "EF" if entry.kind == "ef" else "dipole",
        elements_text(entry.elements),
        str(entry.channels),
        str(entry.max_L),
        str(entry.num_interactions),
        entry.precision,
        f"{entry.n_parameters:,}",
        entry.mace_torch,
    )


def elements_text(symbols: list[str]) -> str:
    if len(symbols) <= MAX_LISTED_ELEMENTS:
        return " ".join(symbols)
    return f"{len(symbols)} ({symbols[0]}..{symbols[-1]})"


def table(rows: list[tuple[str, ...]]) -> str:
    lines = [(*HEADER, "mace-torch"), *rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in lines
    )
