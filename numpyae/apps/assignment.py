"""Assignment notebooks: release a student version of a notebook with solutions, and grade a
folder of submitted notebooks with the exercise checker's diagnosis.

    python -m numpyae assignment release SOURCE.ipynb --out student.ipynb
    python -m numpyae assignment grade SOURCE.ipynb SUBMISSIONS/ --out grades.csv

GRADING RUNS THE STUDENTS' CODE, with your permissions: a submission can read, write and delete
your files, use the network, or fake its own verdict. The time limit (--timeout) stops a cell
or a check that runs too long (an infinite loop) by interrupting it; it is NOT a sandbox. Grade
submissions you do not trust inside a container, a virtual machine or an unprivileged account
that holds nothing else.

The source notebook (the teacher's, with the solutions):

* Solution regions, as in nbgrader: in a code cell, the lines from "### BEGIN SOLUTION" to
  "### END SOLUTION" (each marker alone on its line) are replaced in the release by
  "# YOUR CODE HERE" and "raise NotImplementedError()" at the marker's indentation; in a
  markdown cell, by "YOUR ANSWER HERE". A cell may hold several regions; they do not nest.
* Hidden cells: a cell whose metadata tags include "hidden", or whose first line is
  "### HIDDEN", is left out of the release (teacher's notes, a worked solution, extra checks).
* Exercises: every call check("name", function) (or exercises.check(...)) in a code cell that
  is not hidden, with a string and a plain name, names an exercise to grade and the function the
  student writes for it; the student's function of that name is checked against the exercise.
  (Other calls, check("name", lambda ...) in a demonstration, grade nothing; an exercise
  checked several times is graded with the function of its last check.) Each is worth 1 point,
  or the check cell's metadata "points" (under "numpyae" or, as in nbgrader, "nbgrader":
  {"points": 2}).
* Definitions: a code cell that calls define(...), from_layer(...), from_loss(...) or
  from_penalty(...) defines exercises of the teacher's (numpyae.teaching.exercises). At grading,
  these cells run again, from the SOURCE, after the student's cells and in a namespace of their
  own: the teacher's definitions judge, whatever the student's copy says, and nothing they
  define replaces the student's functions.

Grading one submission (a fresh kernel each, in the submission's folder, with this numpyae
first on sys.path): every code cell of the submission runs with the time limit; a cell that
raises or runs over is noted and grading goes on with the next. Then the source's definition
cells run, then one check per exercise, each with the time limit. A passed check earns the
points; anything else earns 0 with the reason: the checker's diagnosis, or a function that is
missing, is not a function, takes too long (interrupted), or a kernel that died.

grades.csv: one row per submission (the .ipynb files under SUBMISSIONS, the student named by
the path without ".ipynb"): student, points, out_of, then for each exercise "<name> points" and
"<name> diagnosis" (the verdict without the input listing), then notes (the cells that raised or
ran over the time limit). grades_summary.md next to it (or --summary): each exercise's pass rate
and the most common diagnoses across the class, also printed.
"""
from __future__ import annotations

import argparse
import ast
import collections
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from typing import NamedTuple

from ..teaching.exercises import EXERCISES
from .common import (UsageError, check_output_file, existing_file, format_markdown, int_between,
                     one_line, path_text, positive_float, write_csv)

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
HIDDEN_LINE = "### HIDDEN"
HIDDEN_TAG = "hidden"
CODE_STUB = ["# YOUR CODE HERE", "raise NotImplementedError()"]
MARKDOWN_STUB = "YOUR ANSWER HERE"

#: the calls that define an exercise of the teacher's (numpyae.teaching.exercises)
DEFINERS = ("define", "from_layer", "from_loss", "from_penalty")

#: the default time limit of one cell or one check, in seconds
DEFAULT_TIMEOUT = 60.0

#: the ename a timed-out cell's reply carries
TIMEOUT_ENAME = "NumpyaeTimeLimit"

#: the time limit of the grader's own first cell (it imports numpyae and the checker), seconds
PREAMBLE_TIMEOUT = 300.0


class AssignmentError(ValueError):
    """A source notebook the assignment commands cannot use: not a notebook, a solution marker
    without its partner, a check() of an exercise that does not exist, ... (names the cell)."""


# ---- reading notebooks --------------------------------------------------------------------------

def read_notebook(path):
    """The notebook at path as a dict (nbformat 4 JSON), its cells' sources as strings."""
    try:
        with open(path, encoding="utf-8") as f:
            nb = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AssignmentError(f"{path}: not a readable notebook ({exc})") from None
    if not isinstance(nb, dict) or nb.get("nbformat") != 4 or not isinstance(nb.get("cells"), list):
        raise AssignmentError(f"{path}: not a Jupyter notebook of format 4 (nbformat "
                              f"{nb.get('nbformat') if isinstance(nb, dict) else None!r})")
    for i, cell in enumerate(nb["cells"], 1):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            raise AssignmentError(f"{path}: cell {i} is not a notebook cell")
        source = cell.get("source", "")
        cell["source"] = "".join(source) if isinstance(source, list) else str(source)
    return nb


def _tags(cell):
    tags = cell.get("metadata", {}).get("tags", [])
    return tags if isinstance(tags, list) else []


def is_hidden(cell):
    """True for a cell the release leaves out: tagged "hidden", or first line "### HIDDEN"."""
    first = cell["source"].lstrip("\n").split("\n", 1)[0].strip()
    return HIDDEN_TAG in _tags(cell) or first == HIDDEN_LINE


def strip_solutions(source, cell_type, where):
    """The cell's source with every solution region replaced by the stub (module docstring).
    In a markdown cell, markers inside a ``` code fence are text (an example), not markers."""
    out, inside, indent, fenced = [], False, "", False
    for n, line in enumerate(source.split("\n"), 1):
        marker = line.strip()
        if cell_type != "code" and marker.startswith("```") and not inside:
            fenced = not fenced
        if fenced:
            out.append(line)
        elif marker == BEGIN_SOLUTION:
            if inside:
                raise AssignmentError(f"{where}, line {n}: {BEGIN_SOLUTION} inside another "
                                      f"solution region (they do not nest)")
            inside, indent = True, line[:len(line) - len(line.lstrip())]
            out += ([indent + s for s in CODE_STUB] if cell_type == "code" else [MARKDOWN_STUB])
        elif marker == END_SOLUTION:
            if not inside:
                raise AssignmentError(f"{where}, line {n}: {END_SOLUTION} without "
                                      f"{BEGIN_SOLUTION}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise AssignmentError(f"{where}: {BEGIN_SOLUTION} without {END_SOLUTION}")
    return "\n".join(out)


def release(nb, name="the source"):
    """The student version of a source notebook (a dict): solution regions replaced by stubs,
    hidden cells removed, outputs and execution counts cleared."""
    cells = []
    for i, cell in enumerate(nb["cells"], 1):
        if is_hidden(cell):
            continue
        cell = dict(cell, metadata=dict(cell.get("metadata", {})))
        cell["source"] = strip_solutions(cell["source"], cell["cell_type"], f"{name} cell {i}")
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
        cells.append(cell)
    for i, cell in enumerate(cells, 1):
        for marker in (BEGIN_SOLUTION, END_SOLUTION):
            if cell["cell_type"] == "code" and marker in cell["source"]:
                raise AssignmentError(f"{name}: a {marker!r} not alone on its line would reach "
                                      f"the students (released cell {i}); put it on a line of "
                                      f"its own")
    return dict(nb, cells=cells)


def _lines_for_json(nb):
    """nb with every cell source split into lines, as Jupyter writes it."""
    out = dict(nb, cells=[dict(c, source=c["source"].splitlines(keepends=True))
                          for c in nb["cells"]])
    return out


def write_notebook(nb, path):
    """Write nb (a dict) to path as Jupyter does (indent 1, a final newline), atomically."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(_lines_for_json(nb), f, indent=1, ensure_ascii=False)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


# ---- what to grade ------------------------------------------------------------------------------

class GradedExercise(NamedTuple):
    """One exercise of an assignment: the exercise's name, the student's function, its points
    and the source cell (1-based) that checks it."""
    name: str
    function: str
    points: float
    cell: int


class Plan(NamedTuple):
    """What grading runs: the exercises in order, the source's definition cells
    [(cell number, source)] and the source's top-level import statements (run before them)."""
    exercises: list
    definitions: list
    imports: list


def _python(source):
    """The cell's source with IPython magics and shell lines (%..., !...) blanked out."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                     for line in source.split("\n"))


def _call_name(node):
    func = node.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(
        func, ast.Attribute) else None


def _points(cell, where):
    md = cell.get("metadata", {})
    for key in ("numpyae", "nbgrader"):
        sub = md.get(key)
        if isinstance(sub, dict) and "points" in sub:
            value = sub["points"]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                    value >= 0 and value == value and value != float("inf")):
                raise AssignmentError(f"{where}: metadata {key}.points must be a number >= 0, "
                                      f"got {value!r}")
            return float(value)
    return 1.0


def plan(nb, name="the source"):
    """The exercises a source notebook grades and its definition cells (module docstring)."""
    exercises, definitions, imports, defined, unnamed = [], [], [], set(), False
    for i, cell in enumerate(nb["cells"], 1):
        if cell["cell_type"] != "code":
            continue
        where = f"{name} cell {i}"
        code = _python(cell["source"])
        try:
            tree = ast.parse(code)
        except SyntaxError as exc:
            raise AssignmentError(f"{where} is not valid Python: {exc.msg} (line {exc.lineno})") \
                from None
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                statement = ast.get_source_segment(code, node)
                if statement not in imports:
                    imports.append(statement)
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
        calls.sort(key=lambda n: (n.lineno, n.col_offset))
        is_definition = False
        for call in calls:
            what = _call_name(call)
            if what in DEFINERS:
                is_definition = True
                named = [k.value for k in call.keywords if k.arg == "name"]
                if what == "define" and call.args:
                    named.append(call.args[0])
                names = [n.value for n in named if isinstance(n, ast.Constant) and
                         isinstance(n.value, str)]
                defined.update(names)
                unnamed = unnamed or not names
            elif (what == "check" and not is_hidden(cell) and len(call.args) >= 2
                  and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str)
                  and isinstance(call.args[1], ast.Name)):
                exercise, function = call.args[0].value, call.args[1].id
                # an exercise checked more than once (a wrong attempt, then the right one)
                # is graded by its last check
                exercises = [e for e in exercises if e.name != exercise]
                exercises.append(GradedExercise(exercise, function, _points(cell, where), i))
        if is_definition:
            definitions.append((i, cell["source"]))
    if not exercises:
        raise AssignmentError(f"{name} checks no exercise: it needs at least one "
                              f"check(\"exercise name\", student_function) in a code cell")
    for e in exercises:
        if e.name not in EXERCISES and e.name not in defined and not unnamed:
            raise AssignmentError(f"{name} cell {e.cell} checks {e.name!r}, which is neither in "
                                  f"the catalogue nor defined in the notebook with define(...)")
    return Plan(exercises, definitions, imports)


# ---- grading one submission ---------------------------------------------------------------------

class ExerciseGrade(NamedTuple):
    """One exercise of one submission: points earned and possible, whether it passed, the
    diagnosis (the reason for 0 points) and a short label of it for the class summary."""
    points: float
    out_of: float
    passed: bool
    diagnosis: str
    label: str


class StudentGrade(NamedTuple):
    """One submission's grades {exercise: ExerciseGrade}, notes [str] and grading time."""
    student: str
    grades: dict
    notes: list
    seconds: float

    @property
    def points(self):
        """The points earned in all exercises."""
        return sum(g.points for g in self.grades.values())


def _package_root():
    """The folder holding this numpyae package (put first on the kernel's sys.path)."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _preamble():
    """The grader's first cell: this numpyae first on sys.path, and the checker imported (so
    that no student cell or check pays for the import within its time limit)."""
    return ("import sys as _numpyae_sys\n"
            f"_numpyae_sys.path.insert(0, {_package_root()!r})\n"
            "import numpyae.teaching.exercises\n"
            "try:\n"
            "    import hypothesis\n"
            "except ImportError:\n"
            "    pass\n")


def _definition_cell(number, source, imports):
    """Run a definition cell of the source in a copy of the kernel's namespace, after the
    source's own imports: what it defines stays out of the student's namespace."""
    setup = "\n".join(imports)
    return ("_numpyae_ns = dict(globals(), __name__='__numpyae_assignment__')\n"
            f"exec(compile({setup!r}, '<assignment source imports>', 'exec'), _numpyae_ns)\n"
            f"exec(compile(get_ipython().transform_cell({source!r}), "
            f"'<assignment source cell {number}>', 'exec'), _numpyae_ns)\n"
            "del _numpyae_ns\n")


def _check_cell(exercise, marker):
    return f"""\
import json as _numpyae_json
from numpyae.teaching.exercises import check as _numpyae_check
_numpyae_fn = globals().get({exercise.function!r})
if _numpyae_fn is None:
    _numpyae_out = {{"status": "missing"}}
elif not callable(_numpyae_fn):
    _numpyae_out = {{"status": "not_callable", "type": type(_numpyae_fn).__name__}}
else:
    try:
        _numpyae_out = dict(status="checked", **_numpyae_check({exercise.name!r}, _numpyae_fn,
                                                               verbose=False).as_dict())
    except Exception as _numpyae_exc:
        _numpyae_out = {{"status": "check_failed",
                        "error": f"{{type(_numpyae_exc).__name__}}: {{_numpyae_exc}}"}}
print({marker!r} + _numpyae_json.dumps(_numpyae_out))
"""


def _reply_problem(reply, timeout):
    """"raised ValueError: ..." / "ran over the time limit of 5 s" for an error reply, else None."""
    if reply is None or reply.get("status") != "error":
        return None
    if reply.get("ename") == TIMEOUT_ENAME:
        return f"ran over the time limit of {timeout:g} s and was interrupted"
    evalue = re.sub(r" \(\d+\.py, (line \d+)\)", r" (\1)", one_line(reply.get("evalue", "")))
    return f"raised {reply.get('ename')}: {evalue}"[:300]


def _verdict(cell, marker):
    """The check cell's printed verdict (a dict), or None."""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            text = out.get("text", "")
            text = "".join(text) if isinstance(text, list) else text
            for line in text.splitlines():
                if line.startswith(marker):
                    try:
                        return json.loads(line[len(marker):])
                    except json.JSONDecodeError:
                        return None
    return None


def _grade_from(exercise, cell, reply, marker, timeout):
    """The ExerciseGrade of one check cell after it ran."""
    zero = lambda why, label: ExerciseGrade(0.0, exercise.points, False, why, label)
    problem = _reply_problem(reply, timeout)
    if problem is not None and reply.get("ename") == TIMEOUT_ENAME:
        return zero(f"checking {exercise.function} took longer than the time limit of "
                    f"{timeout:g} s (an infinite loop?) and was interrupted", "timed out")
    verdict = _verdict(cell, marker)
    if verdict is None:
        return zero(f"checking {exercise.function} gave no verdict"
                    + (f": the check {problem}" if problem else ""),
                    "no verdict" if problem is None else problem.split(":")[0])
    status = verdict.get("status")
    if status == "missing":
        return zero(f"no function {exercise.function} in your notebook (renamed, or the cell "
                    f"that defines it failed?)", "function missing")
    if status == "not_callable":
        return zero(f"{exercise.function} is a {verdict.get('type')}, not a function",
                    "not a function")
    if status == "check_failed":
        return zero(f"the check failed: {verdict.get('error')}", "check failed")
    if verdict.get("passed"):
        return ExerciseGrade(exercise.points, exercise.points, True, "passed", "passed")
    return zero(verdict.get("message", ""), verdict.get("summary") or verdict.get("kind", ""))


def grade_submission(path, graded_plan, *, timeout=DEFAULT_TIMEOUT, kernel_name="python3",
                     student=None, startup_timeout=60.0):
    """Run one submitted notebook in a fresh kernel and check each exercise (module docstring).
    Never raises for what the submission does: a notebook that cannot be read, a kernel that
    does not start or dies give 0 points with the reason. Returns a StudentGrade."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    start = time.perf_counter()
    student = student or os.path.splitext(os.path.basename(path))[0]
    exercises = graded_plan.exercises

    def everyone(why, label):
        return StudentGrade(student, {e.name: ExerciseGrade(0.0, e.points, False, why, label)
                                      for e in exercises}, [why], time.perf_counter() - start)

    try:
        with warnings.catch_warnings():     # a student's notebook without cell ids is theirs
            warnings.simplefilter("ignore")
            submitted = nbformat.read(path, as_version=4)
    except Exception as exc:  # any unreadable file: that student's zero, not the grader's crash
        return everyone(f"your notebook could not be read ({type(exc).__name__}: "
                        f"{one_line(exc)[:200]})", "notebook unreadable")
    marker = f"@@numpyae-grade-{secrets.token_hex(8)}@@"
    new = nbformat.v4.new_code_cell
    cells = [new(_preamble(), metadata={"numpyae_grader": "preamble"})]
    student_cells = {}
    for k, cell in enumerate(submitted.cells, 1):
        if cell.get("cell_type") == "code":
            student_cells[len(cells)] = k
            cells.append(new(cell.source))
    definition_cells = {}
    for number, source in graded_plan.definitions:
        definition_cells[len(cells)] = number
        cells.append(new(_definition_cell(number, source, graded_plan.imports)))
    check_cells = {}
    for e in exercises:
        check_cells[len(cells)] = e
        cells.append(new(_check_cell(e, marker)))
    nb = nbformat.v4.new_notebook(cells=cells)
    replies = {}
    client = NotebookClient(
        nb, timeout=timeout, kernel_name=kernel_name, allow_errors=True,
        interrupt_on_timeout=True, shutdown_kernel="immediate", startup_timeout=startup_timeout,
        timeout_func=lambda cell: (max(timeout, PREAMBLE_TIMEOUT)
                                   if cell.metadata.get("numpyae_grader") == "preamble"
                                   else timeout),
        error_on_timeout={"ename": TIMEOUT_ENAME, "evalue": f"time limit {timeout:g} s",
                          "traceback": []},
        resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}},
        on_cell_executed=lambda cell, cell_index, execute_reply: replies.__setitem__(
            cell_index, execute_reply.get("content", {})))
    notes, grades, died = [], {}, None
    try:
        with client.setup_kernel(stderr=subprocess.DEVNULL):    # the kernel's own log
            for index, cell in enumerate(cells):
                try:
                    client.execute_cell(cell, index)
                except DeadKernelError:
                    died = index
                    break
                problem = _reply_problem(replies.get(index), timeout)
                if problem and index in student_cells:
                    notes.append(f"cell {student_cells[index]} {problem}")
                elif problem and index in definition_cells:
                    notes.append(f"the assignment's definition cell {definition_cells[index]} "
                                 f"{problem}")
                if index in check_cells:
                    e = check_cells[index]
                    grades[e.name] = _grade_from(e, cell, replies.get(index), marker, timeout)
    except DeadKernelError:
        died = -1 if died is None else died
    except Exception as exc:  # the kernel did not start, or its channels failed
        if not grades:
            return everyone(f"the kernel failed ({type(exc).__name__}: {one_line(exc)[:200]})",
                            "kernel failed")
        notes.append(f"the kernel failed ({type(exc).__name__}: {one_line(exc)[:200]})")
    if died is not None:
        where = (f"in cell {student_cells[died]}" if died in student_cells else
                 f"while checking {check_cells[died].function}" if died in check_cells else
                 "while grading")
        notes.append(f"the kernel died {where}")
    for e in exercises:
        if e.name not in grades:
            why = (f"not graded: the kernel died {where}" if died is not None else
                   "not graded: the kernel stopped")
            grades[e.name] = ExerciseGrade(0.0, e.points, False, why, "kernel died")
    return StudentGrade(student, grades, notes, time.perf_counter() - start)


# ---- grading a class ----------------------------------------------------------------------------

def submissions(folder):
    """[(student, path)]: every .ipynb under folder (not in .ipynb_checkpoints), the student
    named by its path relative to folder without ".ipynb", sorted."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != ".ipynb_checkpoints" and not d.startswith("."))
        for f in sorted(files):
            if f.endswith(".ipynb"):
                path = os.path.join(root, f)
                found.append((os.path.relpath(path, folder)[:-len(".ipynb")].replace(os.sep, "/"),
                              path))
    return sorted(found)


def columns(graded_plan):
    """The CSV's columns for this assignment."""
    cols = ["student", "points", "out_of"]
    for e in graded_plan.exercises:
        cols += [f"{e.name} points", f"{e.name} diagnosis"]
    return cols + ["notes"]


def row(grade, graded_plan):
    """One CSV row (a dict) of a StudentGrade."""
    out = {"student": grade.student, "points": _num(grade.points),
           "out_of": _num(sum(e.points for e in graded_plan.exercises)),
           "notes": "; ".join(grade.notes)}
    for e in graded_plan.exercises:
        g = grade.grades[e.name]
        out[f"{e.name} points"] = _num(g.points)
        out[f"{e.name} diagnosis"] = g.diagnosis
    return out


def _num(x):
    return int(x) if float(x).is_integer() else round(float(x), 3)


def summary(grades, graded_plan, title):
    """The class summary as markdown: each exercise's pass rate, and the diagnoses ranked by
    how many students got them."""
    n = len(grades)
    rates = []
    for e in graded_plan.exercises:
        passed = sum(g.grades[e.name].passed for g in grades)
        mean = sum(g.grades[e.name].points for g in grades) / n if n else 0.0
        rates.append({"exercise": e.name, "points": _num(e.points), "passed": f"{passed}/{n}",
                      "mean points": f"{mean:.2f}"})
    counts = collections.Counter((e.name, g.grades[e.name].label) for g in grades
                                 for e in graded_plan.exercises if not g.grades[e.name].passed)
    common = [{"students": c, "exercise": ex, "diagnosis": label}
              for (ex, label), c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    total = sum(g.points for g in grades)
    out_of = sum(e.points for e in graded_plan.exercises)
    text = [f"# Grades of {title}: {n} submission{'s' if n != 1 else ''}", "",
            f"Mean {total / n if n else 0:.2f} of {_num(out_of)} points.", "",
            format_markdown(rates, ["exercise", "points", "passed", "mean points"]), "",
            "## Most common mistakes", ""]
    text.append(format_markdown(common, ["students", "exercise", "diagnosis"]) if common
                else "None: every submission passed every exercise.")
    return "\n".join(text) + "\n"


def _grade_one(args):
    """grade_submission for a worker process: (student, path, plan, timeout, kernel)."""
    student, path, graded_plan, timeout, kernel = args
    return grade_submission(path, graded_plan, timeout=timeout, kernel_name=kernel,
                            student=student)


def grade(source, folder, *, timeout=DEFAULT_TIMEOUT, kernel_name="python3", jobs=1,
          progress=None):
    """Grade every submission under folder against the source notebook: (plan, [StudentGrade])
    in the submissions' order. progress(grade) is called as each one finishes."""
    graded_plan = plan(read_notebook(source), os.path.basename(source))
    work = [(student, path, graded_plan, timeout, kernel_name)
            for student, path in submissions(folder)]
    results = {}
    if jobs == 1:
        for item in work:
            results[item[0]] = g = _grade_one(item)
            if progress:
                progress(g)
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            for g in pool.map(_grade_one, work):
                results[g.student] = g
                if progress:
                    progress(g)
    return graded_plan, [results[item[0]] for item in work]


# ---- the command line ---------------------------------------------------------------------------

GRADING_WARNING = ("grading RUNS THE STUDENTS' CODE with your permissions; the time limit stops "
                   "infinite loops but is NOT a sandbox: grade untrusted submissions in a "
                   "container, a virtual machine or an unprivileged account")


def existing_folder(text):
    """argparse type: the path of an existing folder (SUBMISSIONS)."""
    text = path_text(text)
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"must be an existing folder, got {text!r}")
    return text


def add_parser(sub):
    """The `assignment` subcommand and its two actions, release and grade."""
    a = sub.add_parser("assignment", help="release a student notebook; grade submitted notebooks",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = a.add_subparsers(dest="action", required=True)
    r = actions.add_parser("release", help="write the student version of a source notebook",
                           description="Replace every ### BEGIN SOLUTION / ### END SOLUTION "
                                       "region by a stub raising NotImplementedError and leave "
                                       "out the hidden cells (tag 'hidden' or first line "
                                       "'### HIDDEN'); clear the outputs.")
    r.add_argument("source", type=existing_file, help="the teacher's notebook (.ipynb)")
    r.add_argument("--out", type=path_text, required=True,
                   help="the student notebook to write (its folder must exist)")
    r.set_defaults(func=cmd_release)
    g = actions.add_parser("grade", help="grade a folder of submitted notebooks (runs their code)",
                           description="Run each submitted notebook in a fresh kernel, check "
                                       "every exercise of the source, write one CSV row per "
                                       "student and a summary of the class's most common "
                                       "mistakes. WARNING: " + GRADING_WARNING + ".")
    g.add_argument("source", type=existing_file, help="the teacher's notebook (.ipynb)")
    g.add_argument("submissions", type=existing_folder,
                   help="folder of submitted notebooks (every .ipynb under it)")
    g.add_argument("--out", type=path_text, required=True, help="the grades CSV to write")
    g.add_argument("--summary", type=path_text, default=None,
                   help="the class summary (markdown) to write (default: <out>_summary.md)")
    g.add_argument("--timeout", type=positive_float, default=DEFAULT_TIMEOUT,
                   help=f"time limit in seconds of each cell and each check (default "
                        f"{DEFAULT_TIMEOUT:g}); it interrupts, it is not a sandbox")
    g.add_argument("--kernel", default="python3", help="the Jupyter kernel (default python3)")
    g.add_argument("--jobs", type=int_between(1, 64), default=1,
                   help="submissions graded at the same time, one kernel each (default 1)")
    g.set_defaults(func=cmd_grade)


def cmd_release(args):
    """`assignment release`: write the student version of SOURCE to --out."""
    if os.path.abspath(args.out) == os.path.abspath(args.source) or (
            os.path.exists(args.out) and os.path.samefile(args.out, args.source)):
        raise UsageError(f"--out {args.out}: is the source notebook itself (its solutions would "
                         f"be lost)")
    check_output_file(args.out, "--out")
    source = read_notebook(args.source)
    student = release(source, os.path.basename(args.source))
    graded = plan(source, os.path.basename(args.source))
    write_notebook(student, args.out)
    n_hidden = sum(map(is_hidden, source["cells"]))
    print(f"wrote {args.out}: {len(student['cells'])} cells ({n_hidden} hidden left out), "
          f"exercises {', '.join(e.name for e in graded.exercises)}")
    return 0


def _check_grading_environment(kernel):
    """The packages and the kernel grading needs; UsageError naming what is missing."""
    missing = []
    for package in ("nbclient", "nbformat", "ipykernel"):
        try:
            __import__(package)
        except ImportError:
            missing.append(package)
    if missing:
        raise UsageError(f"grading needs the packages {', '.join(missing)}: pip install "
                         f"nbclient nbformat ipykernel (or numpyae[test])")
    from jupyter_client.kernelspec import KernelSpecManager
    specs = KernelSpecManager().find_kernel_specs()
    if kernel not in specs:
        raise UsageError(f"--kernel {kernel}: no such Jupyter kernel (installed: "
                         f"{', '.join(sorted(specs)) or 'none'})")


def cmd_grade(args):
    """`assignment grade`: grade every submission, write the CSV and the summary."""
    check_output_file(args.out, "--out")
    summary_path = args.summary or os.path.splitext(args.out)[0] + "_summary.md"
    check_output_file(summary_path, "--summary")
    if not submissions(args.submissions):
        raise UsageError(f"{args.submissions}: no .ipynb submissions in this folder")
    _check_grading_environment(args.kernel)
    plan(read_notebook(args.source), os.path.basename(args.source))     # the source, before work
    print(f"numpyae: warning: {GRADING_WARNING}", file=sys.stderr)

    def progress(g):
        print(f"{g.student}: {_num(g.points)} points ({g.seconds:.1f} s)"
              + (f"; {'; '.join(g.notes)}" if g.notes else ""), flush=True)

    graded_plan, grades = grade(args.source, args.submissions, timeout=args.timeout,
                                kernel_name=args.kernel, jobs=args.jobs, progress=progress)
    write_csv([row(g, graded_plan) for g in grades], columns(graded_plan), args.out)
    text = summary(grades, graded_plan, os.path.basename(args.source))
    with open(summary_path, "w", encoding="utf-8") as f:
        f.write(text)
    print(text, end="")
    print(f"wrote {args.out} and {summary_path}")
    return 0
