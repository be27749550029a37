"""scripts/make_student.py: hand-out copies without outputs, solutions or presenter notes."""

import importlib.util
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("make_student", ROOT / "scripts" / "make_student.py")
make_student = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_student)


def fake_repository(root: Path) -> Path:
    (root / "notebooks").mkdir(parents=True)
    (root / "helpers").mkdir()
    (root / "helpers" / "__init__.py").write_text("")
    (root / "solutions").mkdir()
    (root / "solutions" / "01_x.ipynb").write_text("{}")
    notebook = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell("print('hello')", execution_count=3)
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hello\n")]
    solution = nbformat.v4.new_code_cell("answer = 42", metadata={"tags": ["solution"]})
    notes = nbformat.v4.new_markdown_cell("Ask the room", metadata={"tags": ["presenter-notes"]})
    notebook.cells = [nbformat.v4.new_markdown_cell("# 01 · Title"), code, solution, notes]
    nbformat.write(notebook, root / "notebooks" / "01_x.ipynb")
    return root


def test_student_copy_has_no_outputs_solutions_or_notes(tmp_path):
    root = fake_repository(tmp_path / "repo")
    written = make_student.make_student(tmp_path / "student", root)
    assert [path.name for path in written] == ["01_x.ipynb"]
    notebook = nbformat.read(tmp_path / "student" / "notebooks" / "01_x.ipynb", as_version=4)
    assert [cell.source for cell in notebook.cells] == ["# 01 · Title", "print('hello')"]
    assert notebook.cells[1].outputs == [] and notebook.cells[1].execution_count is None
    assert (tmp_path / "student" / "helpers" / "__init__.py").is_file()
    assert not (tmp_path / "student" / "solutions").exists()
    assert not any(path.name.startswith(".student-") for path in tmp_path.iterdir())


def test_rerun_replaces_the_previous_copy(tmp_path):
    root = fake_repository(tmp_path / "repo")
    make_student.make_student(tmp_path / "student", root)
    (tmp_path / "student" / "stale.txt").write_text("old")
    make_student.make_student(tmp_path / "student", root)
    assert not (tmp_path / "student" / "stale.txt").exists()


def test_no_notebooks_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="notebooks"):
        make_student.make_student(tmp_path / "student", tmp_path)


def test_real_notebooks_convert(tmp_path):
    written = make_student.make_student(tmp_path / "student")
    assert len(written) == len(list((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")))
    for path in written:
        notebook = nbformat.read(path, as_version=4)
        assert all(not cell.get("outputs") for cell in notebook.cells)
        assert not any({"solution", "presenter-notes"} & set(cell.metadata.get("tags", [])) for cell in notebook.cells)
