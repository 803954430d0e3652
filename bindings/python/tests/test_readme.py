"""Runs the README's Python example exactly as written."""

import os
import re
import subprocess
import sys
from pathlib import Path


def readme_python_examples() -> list[str]:
    path = os.environ.get("PROGLOG_README") or str(Path(__file__).parents[3] / "README.md")
    text = Path(path).read_text(encoding="utf-8")
    region = text[text.index("<!-- sdk:begin"):text.index("<!-- sdk:end -->")]
    return re.findall(r"^```python\n(.*?)^```$", region, re.M | re.S)


def test_readme_has_a_python_example() -> None:
    assert readme_python_examples()


def test_readme_python_example_runs(tmp_path: Path) -> None:
    for i, code in enumerate(readme_python_examples()):
        script = tmp_path / f"example{i}.py"
        script.write_text(code, encoding="utf-8")
        done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "b'c'" in done.stdout
        assert "b'later'" in done.stdout
        assert "b'once'" in done.stdout
