"""The README's Python example runs as written."""

import pathlib
import re


def test_readme_python_example():
    readme = pathlib.Path(__file__).resolve().parents[3] / "README.md"
    blocks = re.findall(r"```python\n(.*?)```", readme.read_text(), re.S)
    assert blocks, "the README has a Python example"
    exec(compile(blocks[0], "README.md", "exec"), {"__name__": "readme"})
