"""Shared by the robustness tests (test_robustness_*.py in this folder).

At the end of a run that tried any of their cases, the tally of cases per API is printed as
its own block after the test summary (pytest_terminal_summary), e.g.

    ------------------------- robustness: 5914 cases tried -------------------------
    1213 correct results, 4701 documented refusals; cases per API:
      Dense                       500
      ...
      vae:sample                   11

The tally, run() and the strategies live in robustness_helpers.py (the test modules import
them at import time; a conftest.py is not meant to be imported).
"""
import urllib.error

import pytest

from numpyae.data import datasets as ds
from robustness_helpers import CASES, OUTCOMES


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """The tally, as its own block after pytest's summary sections (failures, warnings, the
    short test summary; this wrapper runs outside pytest's own) and before the final line."""
    result = yield
    if CASES:
        tr = terminalreporter
        tr.write_sep("-", f"robustness: {sum(CASES.values())} cases tried")
        tr.write_line(f"{OUTCOMES['ok']} correct results, {OUTCOMES['refused']} documented "
                      f"refusals; cases per API:")
        width = max(len(op) for op in CASES)
        for op, n in sorted(CASES.items()):
            tr.write_line(f"  {op:<{width}}  {n:>5}")
    return result


def _offline(url, *a, **k):
    raise urllib.error.URLError("offline (robustness test)")


@pytest.fixture(scope="module", autouse=True)
def offline():
    """No robustness case reaches the network: the dataset loaders' urlopen always fails (a
    download is then refused with DatasetUnavailableError, a FileNotFoundError)."""
    mp = pytest.MonkeyPatch()
    mp.setattr(ds, "_urlopen", _offline)
    yield mp
    mp.undo()
