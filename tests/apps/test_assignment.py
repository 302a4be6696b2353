"""Assignment notebooks (numpyae.apps.assignment): release a student version, grade submissions.

The worked example: notebooks/13_assignment_source.ipynb (dense_backward 2 points,
kl_sparsity_grad 1, the teacher-defined elastic_net_grad 2), its student version
notebooks/13_assignment_student.ipynb made by `assignment release`, and the submissions in
tests/apps/assignment_data/submissions/, made from the student version:
    ada  everything right
    ben  dW transposed
    cy   the 1/B missing in the KL gradient, and an elastic net that loops forever (in its own
         check cell, then in the grader's check: both interrupted after the time limit)
    dee  a cell that raises, a cell that does not parse, kl_sparsity_grad = 0.5 (not a
         function), elastic_net_grad renamed (missing)
    eve  edits the assignment's definition of elastic_net_grad to drop the L1 term, so that
         her answer without it passes her own check: the grader uses the teacher's definition
"""
import contextlib
import csv
import io
import json
import pathlib

import pytest

import numpyae
from numpyae.apps import assignment, cli

pytest.importorskip("nbclient")
pytest.importorskip("nbformat")

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCE = ROOT / "notebooks" / "13_assignment_source.ipynb"
STUDENT = ROOT / "notebooks" / "13_assignment_student.ipynb"
SUBMISSIONS = pathlib.Path(__file__).resolve().parent / "assignment_data" / "submissions"
TIMEOUT = 5          # seconds per cell and per check: the looping submission waits this long
TRACEBACK = "Traceback (most recent call last)"


def run(argv):
    """cli.main(argv) in-process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def one_line_error(code, err, status, *words):
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == status, err
    assert TRACEBACK not in err and len(lines) == 1, err
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def notebook(cells):
    """A minimal nbformat-4 notebook dict from [(cell_type, source, metadata)]."""
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
            "cells": [dict({"cell_type": t, "source": s, "metadata": m or {}},
                           **({"outputs": [{"output_type": "stream", "name": "stdout",
                                            "text": "old"}], "execution_count": 3}
                              if t == "code" else {}))
                      for t, s, m in cells]}


def write(path, nb):
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


# ---- release ------------------------------------------------------------------------------------

def test_the_committed_student_notebook_is_the_release_of_the_source(tmp_path):
    out = tmp_path / "student.ipynb"
    code, stdout, err = run(["assignment", "release", SOURCE, "--out", out])
    assert code == 0, err
    assert "exercises dense_backward, kl_sparsity_grad, elastic_net_grad" in stdout
    assert json.loads(out.read_text()) == json.loads(STUDENT.read_text())
    text = STUDENT.read_text()
    assert "### BEGIN SOLUTION" not in text and "### HIDDEN" not in text
    assert "dW = x.T @ dy" not in text and "Teacher's notes" not in text
    code = ["".join(c["source"]) for c in json.loads(text)["cells"] if c["cell_type"] == "code"]
    assert sum("    raise NotImplementedError()" in c for c in code) == 3


def test_release_replaces_solution_regions_and_leaves_out_hidden_cells(tmp_path):
    source = write(tmp_path / "src.ipynb", notebook([
        ("markdown", "Intro. A region looks like\n```\n### BEGIN SOLUTION\n### END SOLUTION\n```",
         None),
        ("code", "def f(x):\n    y = 2\n    ### BEGIN SOLUTION\n    return x * y\n"
                 "    ### END SOLUTION\n\ncheck(\"mse_grad\", f)", None),
        ("markdown", "Why?\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION", None),
        ("code", "print('answer key')", {"tags": ["hidden"]}),
        ("markdown", "### HIDDEN\nnotes for the teacher", None),
        ("code", "a = 1\n### BEGIN SOLUTION\nb = 2\n### END SOLUTION\nc = 3", None),
    ]))
    out = tmp_path / "student.ipynb"
    code, stdout, err = run(["assignment", "release", source, "--out", out])
    assert code == 0, err
    cells = json.loads(out.read_text())["cells"]
    sources = ["".join(c["source"]) for c in cells]
    assert len(cells) == 4
    assert "### BEGIN SOLUTION\n### END SOLUTION" in sources[0]           # an example, fenced
    assert sources[1] == ("def f(x):\n    y = 2\n    # YOUR CODE HERE\n    raise "
                          "NotImplementedError()\n\ncheck(\"mse_grad\", f)")
    assert sources[2] == "Why?\nYOUR ANSWER HERE"
    assert sources[3] == "a = 1\n# YOUR CODE HERE\nraise NotImplementedError()\nc = 3"
    for c in cells:
        if c["cell_type"] == "code":
            assert c["outputs"] == [] and c["execution_count"] is None
    assert "2 hidden left out" in stdout


@pytest.mark.parametrize("source, words", [
    ("### BEGIN SOLUTION\nx = 1", "cell 1: ### BEGIN SOLUTION without ### END SOLUTION"),
    ("x = 1\n### END SOLUTION", "cell 1, line 2: ### END SOLUTION without ### BEGIN SOLUTION"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION",
     "cell 1, line 2: ### BEGIN SOLUTION inside another solution region"),
    ("x = 1  ### BEGIN SOLUTION\ny = 2  ### END SOLUTION",
     "not alone on its line would reach the students"),
])
def test_release_refuses_solution_markers_it_cannot_place(tmp_path, source, words):
    src = write(tmp_path / "src.ipynb", notebook([("code", source + "\ncheck('mse_grad', f)",
                                                  None)]))
    out = tmp_path / "student.ipynb"
    one_line_error(*run(["assignment", "release", src, "--out", out])[::2], 1, words,
                   "AssignmentError")
    assert not out.exists()


def test_release_refuses_to_overwrite_the_source_and_other_bad_flags(tmp_path):
    src = tmp_path / "src.ipynb"
    src.write_text(SOURCE.read_text())
    one_line_error(*run(["assignment", "release", src, "--out", src])[::2], 2,
                   "is the source notebook itself")
    one_line_error(*run(["assignment", "release", tmp_path / "nope.ipynb", "--out",
                         tmp_path / "s.ipynb"])[::2], 2, "source must be an existing file")
    one_line_error(*run(["assignment", "release", src, "--out",
                         tmp_path / "missing" / "s.ipynb"])[::2], 2, "does not exist")
    one_line_error(*run(["assignment", "release", src])[::2], 2, "--out")
    (tmp_path / "bad.ipynb").write_text("{not json")
    one_line_error(*run(["assignment", "release", tmp_path / "bad.ipynb", "--out",
                         tmp_path / "s.ipynb"])[::2], 1, "not a readable notebook")
    assert src.read_text() == SOURCE.read_text()


# ---- what is graded -----------------------------------------------------------------------------

def test_the_plan_of_the_worked_example():
    plan = assignment.plan(assignment.read_notebook(SOURCE))
    assert [(e.name, e.function, e.points) for e in plan.exercises] == [
        ("dense_backward", "dense_backward", 2.0), ("kl_sparsity_grad", "kl_sparsity_grad", 1.0),
        ("elastic_net_grad", "elastic_net_grad", 2.0)]
    assert len(plan.definitions) == 1 and "exercises.define(" in plan.definitions[0][1]
    assert "import numpy as np" in plan.imports and "from numpyae import exercises" in plan.imports


@pytest.mark.parametrize("cells, words", [
    ([("code", "check('mse_grad', lambda o, t: o)", None)], "checks no exercise"),
    ([("code", "check('mse_grad', f)", {"tags": ["hidden"]})], "checks no exercise"),
    ([("code", "check('no_such_exercise', f)", None)],
     "checks 'no_such_exercise', which is neither in the catalogue nor defined"),
    ([("code", "check('mse_grad', f)", {"numpyae": {"points": -1}})],
     "metadata numpyae.points must be a number >= 0"),
    ([("code", "def f(:\n  pass\ncheck('mse_grad', f)", None)], "cell 1 is not valid Python"),
])
def test_a_source_the_grader_cannot_use_is_refused(cells, words):
    with pytest.raises(assignment.AssignmentError, match=words):
        assignment.plan(notebook(cells))


def test_points_come_from_the_check_cells_metadata_and_defined_names_are_known():
    plan = assignment.plan(notebook([
        ("code", "%matplotlib inline\ncheck('mse_grad', mse_grad)", {"nbgrader": {"points": 3}}),
        ("code", "exercises.define('my_grad', 'x', objective=f, inputs={}, grad=['x'])", None),
        ("code", "check('my_grad', my_grad)", {"numpyae": {"points": 0.5}}),
    ]))
    assert [(e.name, e.points) for e in plan.exercises] == [("mse_grad", 3.0), ("my_grad", 0.5)]


def test_an_exercise_checked_twice_is_graded_with_its_last_function():
    plan = assignment.plan(notebook([("code", "check('mse_grad', wrong)", None),
                                     ("code", "check('mse_grad', right)", None)]))
    assert [(e.name, e.function, e.cell) for e in plan.exercises] == [("mse_grad", "right", 2)]


# ---- grading the worked example -----------------------------------------------------------------

@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """`assignment grade` on the worked example, once: (exit status, stdout, stderr, rows by
    student, summary text)."""
    out = tmp_path_factory.mktemp("grades") / "grades.csv"
    code, stdout, err = run(["assignment", "grade", SOURCE, SUBMISSIONS, "--out", out,
                             "--timeout", TIMEOUT, "--jobs", 2])
    rows = {}
    if out.exists():
        with open(out, newline="") as f:
            rows = {r["student"]: r for r in csv.DictReader(f)}
    summary = out.with_name("grades_summary.md")
    return code, stdout, err, rows, summary.read_text() if summary.exists() else ""


def test_grading_the_worked_example_writes_one_row_per_student(graded):
    code, stdout, err, rows, _ = graded
    assert code == 0, err
    assert sorted(rows) == ["ada", "ben", "cy", "dee", "eve"]
    assert {s: rows[s]["points"] for s in rows} == {"ada": "5", "ben": "3", "cy": "2", "dee": "2",
                                                    "eve": "3"}
    assert all(r["out_of"] == "5" for r in rows.values())
    assert list(next(iter(rows.values()))) == [
        "student", "points", "out_of", "dense_backward points", "dense_backward diagnosis",
        "kl_sparsity_grad points", "kl_sparsity_grad diagnosis", "elastic_net_grad points",
        "elastic_net_grad diagnosis", "notes"]


def test_the_right_submission_gets_every_point(graded):
    ada = graded[3]["ada"]
    assert [ada[f"{e} diagnosis"] for e in ("dense_backward", "kl_sparsity_grad",
                                            "elastic_net_grad")] == ["passed"] * 3
    assert ada["notes"] == ""


def test_the_transposed_dW_is_diagnosed(graded):
    ben = graded[3]["ben"]
    assert ben["dense_backward points"] == "0"
    assert ben["dense_backward diagnosis"] == (
        "dense_backward: not right yet (transposed), on random input 1.\n"
        "dW is transposed: shape (3, 4), expected (4, 3), and yours.T is right")
    assert ben["kl_sparsity_grad points"] == "1" and ben["elastic_net_grad points"] == "2"


def test_the_missing_1_over_B_is_named_and_the_infinite_loop_is_stopped(graded):
    cy = graded[3]["cy"]
    assert cy["dense_backward points"] == "2"
    assert cy["kl_sparsity_grad points"] == "0"
    assert ("dh is off by a constant factor: yours = 5 x the true gradient. Likely cause: the "
            "division by the batch size B = 5 is missing") in cy["kl_sparsity_grad diagnosis"]
    assert cy["elastic_net_grad points"] == "0"
    assert cy["elastic_net_grad diagnosis"] == (
        f"checking elastic_net_grad took longer than the time limit of {TIMEOUT} s (an infinite "
        f"loop?) and was interrupted")
    assert f"ran over the time limit of {TIMEOUT} s and was interrupted" in cy["notes"]


def test_crashing_cells_a_missing_function_and_a_non_function_get_zero_with_the_reason(graded):
    dee = graded[3]["dee"]
    assert dee["dense_backward points"] == "2"
    assert dee["kl_sparsity_grad diagnosis"] == "kl_sparsity_grad is a float, not a function"
    assert dee["elastic_net_grad diagnosis"].startswith(
        "no function elastic_net_grad in your notebook")
    assert "cell 3 raised ZeroDivisionError: division by zero" in dee["notes"]
    assert "cell 4 raised SyntaxError: invalid syntax (line 1)" in dee["notes"]


def test_the_teachers_definition_judges_not_the_students_edited_copy(graded):
    eve = graded[3]["eve"]
    assert eve["elastic_net_grad points"] == "0"
    assert "dw is missing the term 'L1'" in eve["elastic_net_grad diagnosis"]


def test_the_summary_ranks_the_class_mistakes(graded):
    code, stdout, err, rows, summary = graded
    assert summary.startswith("# Grades of 13_assignment_source.ipynb: 5 submissions")
    assert "| dense_backward   | 2      | 4/5    | 1.60        |" in summary
    mistakes = summary.split("## Most common mistakes")[1]
    assert "| 1        | dense_backward   | dW transposed " in mistakes
    assert ("| kl_sparsity_grad | dh off by a constant factor: the division by the batch size B "
            "is missing") in mistakes
    assert "| elastic_net_grad | timed out" in mistakes
    assert "| elastic_net_grad | dw: missing term 'L1'" in mistakes
    assert summary in stdout
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == [f"numpyae: warning: {assignment.GRADING_WARNING}"]


# ---- the grader survives what a submission does ---------------------------------------------------

def test_a_submission_that_kills_its_kernel_or_cannot_be_read_gets_zero_and_grading_goes_on(
        tmp_path):
    folder = tmp_path / "subs"
    folder.mkdir()
    student = json.loads(STUDENT.read_text())
    student["cells"].insert(2, {"cell_type": "code", "id": "dies", "metadata": {}, "outputs": [],
                                "execution_count": None, "source": "import os\nos._exit(3)"})
    (folder / "dies.ipynb").write_text(json.dumps(student))
    (folder / "garbled.ipynb").write_text("{ this is not a notebook")
    seen = []
    plan, grades = assignment.grade(str(SOURCE), str(folder), timeout=30, progress=seen.append)
    assert [g.student for g in grades] == ["dies", "garbled"] == [g.student for g in seen]
    dies, garbled = grades
    assert dies.points == 0 and dies.notes == ["the kernel died in cell 3"]
    assert all(g.diagnosis == "not graded: the kernel died in cell 3" for g in dies.grades.values())
    assert garbled.points == 0
    assert garbled.grades["dense_backward"].diagnosis.startswith("your notebook could not be read")


# ---- flags are checked before any kernel starts ---------------------------------------------------

@pytest.fixture
def no_grading(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a submission was graded")
    monkeypatch.setattr(assignment, "grade_submission", refuse)


@pytest.mark.parametrize("argv, status, words", [
    (["--timeout", "0"], 2, "--timeout must be a finite number > 0"),
    (["--jobs", "0"], 2, "--jobs must be an int in [1, 64]"),
    (["--kernel", "no-such-kernel"], 2, "--kernel no-such-kernel: no such Jupyter kernel"),
    (["--out", "{tmp}/missing/grades.csv"], 2, "does not exist"),
    (["--summary", "{tmp}"], 2, "--summary"),
])
def test_grade_refuses_bad_flags_before_grading(tmp_path, no_grading, argv, status, words):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    base = ["assignment", "grade", SOURCE, SUBMISSIONS, "--out", tmp_path / "g.csv"]
    one_line_error(*run(base + argv)[::2], status, words)
    assert not (tmp_path / "g.csv").exists()


def test_grade_refuses_an_empty_folder_and_a_missing_one(tmp_path, no_grading):
    (tmp_path / "empty").mkdir()
    one_line_error(*run(["assignment", "grade", SOURCE, tmp_path / "empty", "--out",
                         tmp_path / "g.csv"])[::2], 2, "no .ipynb submissions")
    one_line_error(*run(["assignment", "grade", SOURCE, tmp_path / "nope", "--out",
                         tmp_path / "g.csv"])[::2], 2, "must be an existing folder")


def test_the_help_the_docstring_and_the_readme_say_grading_runs_student_code(capsys):
    code, stdout, _ = run(["assignment", "grade", "--help"])
    assert code == 0
    text = " ".join(stdout.split())
    assert "RUNS THE STUDENTS' CODE" in text and "NOT a sandbox" in text
    assert "it is NOT a sandbox" in assignment.__doc__
    readme = (ROOT / "README.md").read_text()
    assert "Grading runs the students' code with your permissions; the time limit is not a" \
           "\nsandbox" in readme
    assert numpyae.__file__
