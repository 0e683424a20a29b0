"""The one table of exit statuses, shown in `verifier run --help`."""

from __future__ import annotations

from collections.abc import Iterable

from verifier.findings import Finding, Severity

OK, WARNINGS, ERRORS, INCOMPLETE, NOT_RUN = 0, 1, 2, 3, 4

EXIT_CODES: dict[int, str] = {
    OK: "everything checked, nothing above info",
    WARNINGS: "warnings only",
    ERRORS: "at least one error finding: a backup is broken or missing",
    INCOMPLETE: "incomplete: a destination or export could not be checked (unreachable, denied, timed out), "
    "and no errors",
    NOT_RUN: "nothing was run: bad config, bad arguments, catalog locked or unreadable",
}

# `restore-plan` and `restore` use the same numbers, with what each means for a restore.
RESTORE_EXIT_CODES: dict[int, str] = {
    OK: "the chain is intact (restore: every file in place, verified)",
    ERRORS: "the chain is broken or there is no export at or before TIME (restore.chain_broken),\n"
    "     or a file was refused or did not match the catalog",
    INCOMPLETE: "restore: the store failed to return some files (re-run to resume)",
    NOT_RUN: EXIT_CODES[NOT_RUN],
}


# Findings that say "could not look", not "found broken": they make a run incomplete (3), not
# broken (2), because the backups behind them may be fine.
INCOMPLETE_CODES = frozenset({"backend.unreachable", "aep.unreachable"})


def exit_code_for(findings: Iterable[Finding], incomplete: bool) -> int:
    """An INCOMPLETE_CODES finding makes a run incomplete (3), not broken (2)."""
    worst = Severity.INFO
    for f in findings:
        if f.code in INCOMPLETE_CODES:
            continue
        worst = max(worst, f.sev)
    if worst == Severity.ERROR:
        return ERRORS
    if incomplete:
        return INCOMPLETE
    if worst == Severity.WARNING:
        return WARNINGS
    return OK


def help_text(table: dict[int, str] = EXIT_CODES) -> str:
    return "\n".join(f"  {code}  {text}" for code, text in table.items())
