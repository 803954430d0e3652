#!/usr/bin/env python3
"""Writes the fenced code blocks of one language from README.md's SDK region.

Usage: extract_readme.py README.md LANGUAGE OUTPUT
The blocks are concatenated; it fails if there is none, so a README edit that
drops an example fails the test instead of passing vacuously.
"""
import re
import sys


def main() -> int:
    readme, language, output = sys.argv[1:4]
    text = open(readme, encoding="utf-8").read()
    begin, end = text.find("<!-- sdk:begin"), text.find("<!-- sdk:end -->")
    if begin < 0 or end < begin:
        print("README.md has no sdk region", file=sys.stderr)
        return 1
    region = text[begin:end]
    blocks = re.findall(r"^```" + re.escape(language) + r"\n(.*?)^```$", region, re.M | re.S)
    if not blocks:
        print(f"README.md has no ```{language} example in the sdk region", file=sys.stderr)
        return 1
    with open(output, "w", encoding="utf-8") as out:
        out.write("\n".join(blocks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
