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
SUBMITTED: dict[str, str] = {
    "style_modules/content_loss.py": "5237d0c8973b3c47034fd4b86a939af45d10b3d7ddacd9a5d974961044892daa",
    "style_modules/style_loss.py": "4540372f3335c00434ad83382d823034c4ddf746727fb021de92c2462c4c31a7",
    "style_modules/tv_loss.py": "87989aa65ba94e7ac2aa983f987d5394d2ce37087cd7c651668673b6772e8e11",
    "style_utils.py": "4218e469cb574f12bcbae5b20daf050645109b14ee9194a33698b7bbcdb90d5e",
    "visualizers/saliency_map.py": "d8bb20ccc8f764fd4928f2971cf9d898cb7f0f21325835ba2757938f2c68f362",
    "visualizers/gradcam.py": "fc4780a2f9334b07c719e3944aa50a66e5f9e2084ab5b3e259b2a0fd7db596d9",
    "visualizers/fooling_image.py": "bc3719ec4f29b5aa5abb1b81f6570272c3eb8c75253f0a0b77aa5b75b3d0b479",
    "visualizers/class_visualization.py": "79d89572b5903ee933c8b7b0e8698f2eed67650953e8a4fcb39fba72215767d5",
    "conv_matrices.py": "75c576bf4355ea50518b5e56c79ea811b150ea9df123de4f8c65b16fb4c0dc6b",
    "answers.py": "948d38c46b3e93d94ac3439c559be85f6dc562c71c0280beff2dad57a05deaca"
}


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
