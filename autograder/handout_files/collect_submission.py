"""Pack your submission: ``python collect_submission.py`` writes ``submission.zip`` for Gradescope.

It takes exactly the files you submit (the list below), from this folder, and
says which of them are missing and which are still the starter code as it was
handed out (those earn nothing). Nothing else goes into the zip: the course's
given files (image_utils.py, the packages' __init__.py) are the grader's own.

Standard library only; Python 3.9 or later.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import zipfile
from pathlib import Path

# The files of the submission contract, and a digest of each as the starter code had it
# (line endings made "\n" first, so a checkout with Windows line endings still matches).
SUBMITTED: dict[str, str] = {}  # written when the handout is built


def digest(data: bytes) -> str:
    return hashlib.sha256(data.replace(b"\r\n", b"\n")).hexdigest()


def collect(folder: Path, out: Path) -> tuple[list[str], list[str], list[str]]:
    """Zip the submitted files of ``folder`` into ``out``; the files packed, missing, and unchanged from the starter code."""
    packed, missing, unchanged = [], [], []
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, starter in SUBMITTED.items():
            source = folder / path
            if not source.is_file():
                missing.append(path)
                continue
            data = source.read_bytes()
            archive.writestr(path, data)
            packed.append(path)
            if digest(data) == starter:
                unchanged.append(path)
    return packed, missing, unchanged


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("submission.zip"), help="the zip to write (default: %(default)s)")
    arguments = parser.parse_args()
    folder = Path(__file__).resolve().parent
    packed, missing, unchanged = collect(folder, arguments.out)
    print(f"Wrote {arguments.out} with {len(packed)} of the {len(SUBMITTED)} files you submit.")
    if unchanged:
        print(f"Still the starter code as handed out (they earn nothing yet): {', '.join(unchanged)}")
    if missing:
        print(f"Missing from this folder (their problems earn nothing): {', '.join(missing)}")
    if not packed:
        print("Nothing was packed: run this script in the folder of your files.", file=sys.stderr)
        return 1
    print("Upload it to Gradescope.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
