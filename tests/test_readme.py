"""Every code block of ``README.md`` and ``docs/*.md`` runs as written.

What is run:

- every fenced ```python block, each alone in a fresh interpreter, in file
  order (a reader copies one snippet, so every snippet must stand alone);
- every line of a ```bash block that starts with ``dqlstm ``,
  ``python -m dqlstm`` or ``python experiments/``, in file order, all lines
  of one file in one shared folder (so a later line sees what an earlier one
  wrote, and two lines that collide on an output folder fail here as they
  would for a reader). The set-up line (``python3 -m venv ...``) and the
  test command (``python -m pytest``) do not match and are not run.

Everything runs with cwd = a temporary folder holding a copy of
``experiments/configs``, so nothing is written into the repository;
``python experiments/X.py`` is rewritten to the repository's script. A
command that writes into ``experiments/results/`` (the committed results)
fails unless it says ``--results experiments/results...``.

Slow or unrunnable snippets are named in :data:`MARKS` below (a table here
rather than markers in the markdown, so the docs stay plain): the key is the
file and a substring of the command line or of the block; the value is
``"slow"`` (over ~20 s on 2 cores: runs only with ``-m slow``) or
``"skip: why"``. A stale entry (matching nothing) fails
``test_marks_match_something``. Test ids are ``file:line``.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
CLI_PREFIXES = ("dqlstm ", "python -m dqlstm", "python experiments/")
FAST_TIMEOUT = 300  # s: a fast line takes < 20 s idle; the 2 cores are shared
SLOW_TIMEOUT = 3600

# (file relative to the repo, substring of the line or block) -> "slow" | "skip: reason"
MARKS: dict[tuple[str, str], str] = {
    ("README.md", "narma5_distributed_cut.toml"): "slow",  # 100 epochs of an 8-qubit circuit
    ("README.md", "narma5_distributed_sampled.toml"): "slow",
    ("README.md", "dqlstm federate "): "slow",
    ("README.md", "dqlstm report "): "slow",  # needs the federate runs above
    ("README.md", "dqlstm compare experiments/configs/compare_chen.toml --quick"): "slow",
    ("README.md", "dqlstm sweep --quick"): "slow",
    ("docs/ibm_runtime.md", "QiskitRuntimeService.save_account"): "skip: writes an IBM account (placeholder token)",
    ("docs/ibm_runtime.md", "service.backends("): "skip: needs an IBM Quantum account and network",
    ("docs/ibm_runtime.md", 'IBMRuntimeQPU("ibm", "ibm_torino"'): "skip: needs an IBM Quantum account and network",
    ("docs/ibm_runtime.md", "ibm_runtime_example.toml"): "skip: the example config names a real IBM device",
    ("docs/ibm_runtime.md", "ibm_fake_example.toml"): "slow",  # ~70 s: every shot simulated, as on hardware
}


@dataclass(frozen=True)
class Snippet:
    path: str  # relative to the repo
    line: int  # 1-based line of the code (first line of a block)
    kind: str  # "python" | "cli"
    code: str

    @property
    def id(self) -> str:
        return f"{self.path}:{self.line}"


def extract(text: str, path: str) -> list[Snippet]:
    """The python blocks and CLI lines of a markdown text, in order."""
    snippets: list[Snippet] = []
    fence = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = fence.match(lines[i])
        if not m:
            i += 1
            continue
        marker, lang = m.group(2), m.group(3).lower()
        start = i + 1
        j = start
        while j < len(lines) and not lines[j].strip().startswith(marker):
            j += 1
        body = lines[start:j]
        if lang in ("python", "py"):
            snippets.append(Snippet(path, start + 1, "python", "\n".join(body) + "\n"))
        elif lang in ("bash", "sh", "shell", "console"):
            k = 0
            while k < len(body):
                line, first = body[k].strip(), k
                while line.endswith("\\") and k + 1 < len(body):  # continuation lines
                    k += 1
                    line = line[:-1].rstrip() + " " + body[k].strip()
                line = line.removeprefix("$ ")
                if line.startswith(CLI_PREFIXES):
                    snippets.append(Snippet(path, start + first + 1, "cli", line))
                k += 1
        i = j + 1
    return snippets


def mark_of(snippet: Snippet) -> str | None:
    for (path, needle), mark in MARKS.items():
        if path == snippet.path and needle in snippet.code:
            return mark
    return None


def all_snippets() -> list[Snippet]:
    return [s for doc in DOCS for s in extract(doc.read_text(encoding="utf-8"), doc.relative_to(REPO).as_posix())]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")  # the venv's dqlstm
    env["MPLBACKEND"] = "Agg"
    env.pop("PYTHONPATH", None)
    return env


def make_workdir(path: Path) -> Path:
    """A folder with the repository's ``experiments/configs``, where snippets run."""
    path.mkdir(parents=True, exist_ok=True)
    if not (path / "experiments" / "configs").exists():
        shutil.copytree(REPO / "experiments" / "configs", path / "experiments" / "configs")
    return path


def run_snippet(snippet: Snippet, cwd: Path, timeout: float) -> None:
    """Run one snippet; ``AssertionError`` with its output when it fails."""
    if snippet.kind == "python":
        cmd: list[str] | str = [sys.executable, "-c", snippet.code]
        shell = False
    else:
        line = snippet.code
        if line.startswith("python experiments/"):  # the repository's script, run from the work folder
            line = f"python {shlex.quote(str(REPO))}/experiments/" + line.removeprefix("python experiments/")
        if line.startswith("python "):
            line = shlex.quote(sys.executable) + line.removeprefix("python")
        cmd, shell = line, True
    results = cwd / "experiments" / "results"
    before = _files(results)
    proc = subprocess.run(cmd, shell=shell, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout,
                          executable="/bin/bash" if shell else None)
    if proc.returncode != 0:
        raise AssertionError(
            f"{snippet.id} failed (exit {proc.returncode}): {snippet.code.strip()}\n"
            f"--- stdout ---\n{proc.stdout[-3000:]}\n--- stderr ---\n{proc.stderr[-3000:]}"
        )
    # documented commands write to run folders; committed results change only when a line names them
    written = sorted(_files(results) - before)
    if written and "--results experiments/results" not in snippet.code:
        raise AssertionError(f"{snippet.id} wrote into experiments/results ({written[:3]}): {snippet.code.strip()}")


def _files(folder: Path) -> set[Path]:
    return {f for f in folder.rglob("*") if f.is_file()} if folder.is_dir() else set()


def _params(kind: str) -> list:
    out = []
    for s in all_snippets():
        if s.kind != kind:
            continue
        mark = mark_of(s)
        marks = []
        if mark == "slow":
            marks = [pytest.mark.slow]
        elif mark and mark.startswith("skip"):
            marks = [pytest.mark.skip(reason=mark.removeprefix("skip:").strip())]
        out.append(pytest.param(s, id=s.id, marks=marks))
    return out


@pytest.fixture(scope="module")
def cli_dirs(tmp_path_factory) -> dict[str, Path]:
    """One working folder per markdown file, shared by its CLI lines (they run in file order)."""
    return {}


@pytest.mark.parametrize("snippet", _params("python"))
def test_python_block(snippet: Snippet, tmp_path) -> None:
    slow = mark_of(snippet) == "slow"
    run_snippet(snippet, make_workdir(tmp_path), SLOW_TIMEOUT if slow else FAST_TIMEOUT)


@pytest.mark.parametrize("snippet", _params("cli"))
def test_cli_line(snippet: Snippet, cli_dirs, tmp_path_factory) -> None:
    if snippet.path not in cli_dirs:
        cli_dirs[snippet.path] = make_workdir(tmp_path_factory.mktemp("cli"))
    slow = mark_of(snippet) == "slow"
    run_snippet(snippet, cli_dirs[snippet.path], SLOW_TIMEOUT if slow else FAST_TIMEOUT)


def test_marks_match_something() -> None:
    snippets = all_snippets()
    stale = [key for key in MARKS if not any(s.path == key[0] and key[1] in s.code for s in snippets)]
    assert not stale, f"MARKS entries that match no snippet: {stale}"


def test_docs_are_found() -> None:
    kinds = {(s.path, s.kind) for s in all_snippets()}
    assert ("README.md", "python") in kinds and ("README.md", "cli") in kinds


FIXTURE = """\
Intro.

```python
print("one")
```

```bash
python3 -m venv .venv && . .venv/bin/activate && pip install -e .
dqlstm plan --qubits 4 \\
    --max-qubits 2   # comment
python -m pytest -q
python -m dqlstm --help
echo not run
```

```toml
x = 1
```

```python
undefined_name + 1
```
"""


def test_extract_fixture() -> None:
    got = [(s.line, s.kind, s.code) for s in extract(FIXTURE, "F.md")]
    assert got == [
        (4, "python", 'print("one")\n'),
        (9, "cli", "dqlstm plan --qubits 4 --max-qubits 2   # comment"),
        (12, "cli", "python -m dqlstm --help"),
        (21, "python", "undefined_name + 1\n"),
    ]
    assert [s.id for s in extract(FIXTURE, "F.md")][0] == "F.md:4"


def test_broken_snippets_fail(tmp_path) -> None:
    snippets = extract(FIXTURE, "F.md")
    run_snippet(snippets[0], tmp_path, FAST_TIMEOUT)  # fine
    with pytest.raises(AssertionError, match=r"(?s)F.md:21.*NameError"):
        run_snippet(snippets[3], tmp_path, FAST_TIMEOUT)
    broken = Snippet("F.md", 1, "cli", "dqlstm train experiments/configs/no_such.toml")
    with pytest.raises(AssertionError, match="exit 2"):
        run_snippet(broken, make_workdir(tmp_path), FAST_TIMEOUT)
    sneaky = Snippet("F.md", 2, "cli", "python -c \"import pathlib; p = pathlib.Path('experiments/results/x'); "
                     "p.parent.mkdir(parents=True); p.write_text('')\"")
    with pytest.raises(AssertionError, match="wrote into experiments/results"):
        run_snippet(sneaky, tmp_path, FAST_TIMEOUT)
