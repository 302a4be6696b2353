"""The robustness battery's reporting (the machinery is in robustness_helpers.py).

- Every test of this folder FAILS when one of the cases it tried landed in the last three
  columns (obscure crash, silent garbage, data lost); the failure lists the offending inputs
  (as the whole report: the short test summary then just names the test).
  (A case never raises: Hypothesis tries every example once and nothing is shrunk.)
- After pytest's summary, the tally per area is printed as a table, e.g.

    =============================== robustness battery ===============================
    area            tried  clear error  accepted correctly  obscure crash  silent garbage  data lost
    API arguments    4123         2900                1223              0               0          0
    ...

  With pytest -v the cases per API follow. When $NUMPYAE_TALLY names a file, the table (as
  markdown) and the list of bad cases are written there too.
- No case reaches the network: connections to other machines are refused (the dataset tests
  run their own HTTP server on 127.0.0.1).
"""
import os
import types

import pytest

from numpyae.data import datasets as ds
from robustness_helpers import AREAS, BAD, COLUMNS, OPS, TALLY, BatteryFailure, offline

MAX_LISTED = 60  # bad cases listed in one test's failure


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Fail the test if any case it tried landed in the last three columns."""
    start = len(BAD)
    result = yield
    bad = BAD[start:]
    if bad:
        lines, seen = [], {}
        for case in bad:
            key = case.line()
            seen[key] = seen.get(key, 0) + 1
        for key, n in seen.items():
            lines.append(key + (f"   [x{n}]" if n > 1 else ""))
        more = len(lines) - MAX_LISTED
        listing = "\n".join(lines[:MAX_LISTED]) + (f"\n... and {more} more" if more > 0 else "")
        raise BatteryFailure(f"{len(bad)} case(s) of area {bad[0].area!r} in the last three "
                             f"columns:\n{listing}")
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A battery failure is reported as its listing alone: no traceback into this conftest, and
    the short test summary (which repeats a failure's whole message on CI) names just the test."""
    report = yield
    if call.excinfo is not None and call.excinfo.errisinstance(BatteryFailure):
        report.longrepr = _Listing(str(call.excinfo.value), item)
    return report


class _Listing:
    """A failure report that is just the listing of bad cases; its first line is the message
    the short test summary shows."""

    def __init__(self, text, item):
        self.text = text
        path, lineno, _ = item.location
        self.reprcrash = types.SimpleNamespace(message=text.splitlines()[0], path=path,
                                               lineno=(lineno or 0) + 1)

    def toterminal(self, tw):
        """Write the listing."""
        for line in self.text.splitlines():
            tw.line(line)

    def __str__(self):
        return self.text


def tally_rows():
    """[(area, tried, count per column...)] for every area that tried a case, and the total."""
    rows = []
    for area in AREAS:
        c = TALLY[area]
        tried = sum(c.values())
        if tried:
            rows.append((area, tried, *(c[col] for col in COLUMNS)))
    if rows:
        rows.append(("total", *(sum(r[i] for r in rows) for i in range(1, 2 + len(COLUMNS)))))
    return rows


HEADER = ("area", "tried") + COLUMNS


def format_table(rows):
    """The tally as aligned text columns."""
    widths = [max(len(str(x)) for x in col) for col in zip(HEADER, *rows)]
    fmt = lambda r: "  ".join(str(x).ljust(w) if i == 0 else str(x).rjust(w)
                              for i, (x, w) in enumerate(zip(r, widths)))
    return [fmt(HEADER)] + [fmt(r) for r in rows]


def format_markdown(rows):
    """The tally as a markdown table (for a note)."""
    out = ["| " + " | ".join(HEADER) + " |", "|" + "|".join(["---"] + ["---:"] * (len(HEADER) - 1)) + "|"]
    out += ["| " + " | ".join(str(x) for x in r) + " |" for r in rows]
    return out


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """The tally, as its own block after pytest's summary sections (failures, warnings, the
    short test summary; this wrapper runs outside pytest's own) and before the final line."""
    result = yield
    rows = tally_rows()
    if rows:
        tr = terminalreporter
        tr.write_sep("=", "robustness battery: cases per area")
        for line in format_table(rows):
            tr.write_line(line)
        if BAD:
            tr.write_line(f"{len(BAD)} case(s) in the last three columns (listed in the failures "
                          f"above{', and in $NUMPYAE_TALLY' if os.environ.get('NUMPYAE_TALLY') else ''})")
        if config.option.verbose > 0:
            tr.write_line("cases per API:")
            width = max(len(f"{a}: {op}") for a, op in OPS)
            for (area, op), n in sorted(OPS.items()):
                tr.write_line(f"  {f'{area}: {op}':<{width}}  {n:>5}")
        path = os.environ.get("NUMPYAE_TALLY")
        if path:
            lines = format_markdown(rows)
            if BAD:
                lines += ["", f"Cases in the last three columns ({len(BAD)}):", ""]
                lines += [f"- {case.area}: {case.line()}" for case in BAD]
            with open(path, "w") as f:
                f.write("\n".join(lines) + "\n")
            tr.write_line(f"tally written to {path}")
    return result


@pytest.fixture(scope="session", autouse=True)
def no_network():
    """No robustness case reaches the network: every connection to another machine is refused,
    and the dataset loaders' urlopen (when the module has one) always fails."""
    mp = pytest.MonkeyPatch()

    def refuse(url, *a, **k):
        import urllib.error
        raise urllib.error.URLError("offline (robustness battery)")
    mp.setattr(ds, "_urlopen", refuse, raising=False)
    with offline():
        yield mp
    mp.undo()
