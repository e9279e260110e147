"""Outputs that must not land on files a command does not own: a run's own files, or a
journal another program wrote."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from idff.errors import UserError

__all__ = ["RUN_OWN", "refuse_run_files", "check_bench_journal"]

#: what a run folder's training and generation write; no other command may write them
RUN_OWN = frozenset({"config.json", "snapshot.pt", "snapshot.safetensors", "state.pt",
                     "log.jsonl", "generate.json"})


def _is_run_folder(folder: Path) -> bool:
    return any((folder / n).is_file() for n in ("config.json", "state.pt", "snapshot.pt",
                                                "snapshot.safetensors", "generate.json"))


def refuse_run_files(paths: Iterable[str | Path], out: str, option: str = "--out") -> None:
    """Refuse outputs that would replace (or append to) a run's own files.

    Raises:
        UserError: naming the file and the run folder it belongs to.
    """
    for p in map(Path, paths):
        if p.name in RUN_OWN and _is_run_folder(p.parent):
            raise UserError(f"{option} {out} would write {p}, a file of the run in {p.parent} "
                            f"(its {'training log' if p.name == 'log.jsonl' else p.name}); "
                            f"choose an {option} outside the run's own file names, e.g. "
                            f"{option} {p.parent / 'bench'}.")


def _journal_line(line: str) -> bool:
    """A record of ``idff bench nfe``'s journal, or one torn by an interruption."""
    try:
        rec = json.loads(line)
    except json.JSONDecodeError:
        return line.startswith('{"key": ')
    return isinstance(rec, dict) and "key" in rec and "row" in rec


def check_bench_journal(journal: str | Path, out: str) -> None:
    """Refuse to reuse, append to or (``--fresh``) delete an ``OUT.jsonl`` that is not a
    journal of ``idff bench nfe``.

    Raises:
        UserError: naming the file and the fix.
    """
    journal = Path(journal)
    if not journal.exists():
        return
    if not journal.is_file():
        raise UserError(f"--out {out}: {journal} is a folder, not the benchmark's journal; "
                        "choose another --out.")
    try:
        lines = [x for x in journal.read_text(errors="strict").splitlines() if x.strip()]
    except (UnicodeDecodeError, OSError):
        lines = ["\0"]
    if not all(_journal_line(x) for x in lines):
        raise UserError(f"--out {out}: {journal} exists and is not a journal of 'idff bench "
                        "nfe' (it would be appended to, or deleted with --fresh); choose "
                        "another --out.")


def guard_bench_out(out: str, written_runs: Iterable[str] = (), journal: bool = True) -> None:
    """``idff bench nfe`` / ``merge``: refuse an ``--out`` prefix whose files (OUT.csv, .md,
    .png, .val.csv, .meta.json, the journal OUT.jsonl) are a run's own or a foreign journal,
    and hold the prefix for the command's life (two benchmarks into one prefix would
    interleave their journals), and the ``written_runs`` folders too (``--store``)."""
    from idff.runlock import hold_for_command

    outp = Path(out)
    paths = [outp.with_suffix(s) for s in (".csv", ".md", ".png", ".val.csv", ".meta.json")]
    if journal:
        paths.append(Path(f"{outp}.jsonl"))
    refuse_run_files(paths, out)
    if journal:
        check_bench_journal(paths[-1], out)
    hold_for_command(outp.parent, f".{outp.name}.lock")
    for run in written_runs:
        if Path(run).is_dir():  # a published .pt checkpoint stores nothing
            hold_for_command(run, option="RUN")
