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


def test_readme_python_examples_run(tmp_path: Path) -> None:
    printed = ""
    for i, code in enumerate(readme_python_examples()):
        script = tmp_path / f"example{i}.py"
        script.write_text(code, encoding="utf-8")
        done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        printed += done.stdout
    # The blocking client's example.
    assert "b'c'" in printed
    assert "b'later'" in printed
    assert "b'once'" in printed
    # The asyncio client's.
    assert "b'event 0'" in printed
    assert "b'async later'" in printed
