"""The log check itself (tests/support/logcheck.py): a stray WARNING fails a
test in a checked folder; an expected one, or one elsewhere, does not."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]

CONFTEST = """
from pathlib import Path
import tests.support.logcheck as logcheck
logcheck.ROOT = Path(__file__).parent
logcheck.CHECKED = ("checked",)
from tests.support.logcheck import _fail_on_unexpected_logs
def pytest_configure(config):
    config.addinivalue_line("markers", "expect_log(*patterns): expected log lines")
"""

TESTS = """
import logging
import threading
import pytest

log = logging.getLogger("demo.part")

def test_quiet():
    log.info("only information")

def test_stray_warning():
    log.warning("the disk is on fire")

def test_stray_error_from_a_thread():
    thread = threading.Thread(target=lambda: log.error("a worker failed"))
    thread.start()
    thread.join()

@pytest.mark.expect_log(r"disk is on \\w+")
def test_expected_warning():
    log.warning("the disk is on fire")

@pytest.mark.expect_log("something else")
def test_expected_but_another_line():
    log.warning("the disk is on fire")
"""


def test_unexpected_warnings_fail_and_expected_ones_pass(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.makeconftest(CONFTEST)
    (pytester.path / "checked").mkdir()
    (pytester.path / "elsewhere").mkdir()
    (pytester.path / "checked" / "test_logs.py").write_text(textwrap.dedent(TESTS))
    (pytester.path / "elsewhere" / "test_other_logs.py").write_text(textwrap.dedent(TESTS))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=10, errors=3)
    failed = [line for line in result.outlines if line.startswith("ERROR ") and "::" in line]
    errors = {line.split("::")[1].split(" ")[0] for line in failed}
    assert errors == {
        "test_stray_warning",
        "test_stray_error_from_a_thread",
        "test_expected_but_another_line",
    }
    result.stdout.fnmatch_lines(
        ["*unexpected log lines*", "*WARNING demo.part: the disk is on fire*"]
    )
    assert all(line.startswith("ERROR checked/") for line in failed)
