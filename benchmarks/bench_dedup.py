"""What reading each record once costs: this checkout against a baseline commit, same data, same run.

Builds from N generated records (bench_build's S3-layout data) with this checkout and with a baseline
commit checked out to a temporary worktree, interleaved; then the same data plus a copied tenth of its
files (duplicates the baseline counts twice). Prints medians, ratios and peak RSS, and the duplicate
check's memory per record (12 bytes: a 64-bit request key and a 32-bit file index).

    python benchmarks/bench_dedup.py [--records 1000000] [--runs 3] [--baseline 01b5513]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_build import NOW, generate, timed

ROOT = Path(__file__).resolve().parent.parent


def worktree(commit: str) -> Path:
    """The baseline's package in a temporary worktree (its assets/vendor copied from this checkout)."""
    where = Path(tempfile.mkdtemp(prefix="bench-baseline-")) / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), commit], check=True,
                   capture_output=True)  # fmt: skip
    shutil.copytree(ROOT / "assets/vendor", where / "assets/vendor")
    return where


def build_command(tree: Path, logs: Path, out: Path) -> list[str]:
    code = f"import sys; sys.path.insert(0, {str(tree)!r}); from generator.cli import main; main()"
    return [sys.executable, "-c", code, "build", "--source", "files", "--logs", str(logs), "--now", NOW.isoformat(),
            "--env-file", "/dev/null", "--out", str(out)]  # fmt: skip


def with_copies(data: Path, target: Path) -> int:
    """Link the data into `target` and add a copy of every tenth file: records the source must count once."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(data, target, copy_function=lambda s, d: Path(d).hardlink_to(s))
    files = sorted(p for p in target.rglob("*.json.gz"))
    for path in files[::10]:
        shutil.copyfile(path, path.with_name("copy-" + path.name))
    return len(files[::10])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", default="01b5513", help="commit before the duplicate check")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "bedrock-usage-bench")
    args = parser.parse_args()

    data = args.data / str(args.records)
    generate(data, args.records)
    dupes = args.data / f"{args.records}-with-copies"
    copied = with_copies(data, dupes)
    base = worktree(args.baseline)
    out = Path(tempfile.mkdtemp(prefix="bench-dedup-"))
    try:
        for label, logs in (("unique records", data), (f"plus {copied} copied files", dupes)):
            times: dict[str, list[float]] = {"baseline": [], "this": []}
            peaks: dict[str, list[int]] = {"baseline": [], "this": []}
            totals = {}
            for _ in range(args.runs):  # interleaved, so machine noise hits both alike
                for name, tree in (("baseline", base), ("this", ROOT)):
                    seconds, peak = timed(build_command(tree, logs, out / name))
                    times[name].append(seconds)
                    peaks[name].append(peak)
                    manifest = json.loads((out / name / "data/manifest.json").read_text())
                    totals[name] = manifest["records_read"], manifest.get("duplicate_records_dropped", "-")
            b, t = statistics.median(times["baseline"]), statistics.median(times["this"])
            print(f"{label}: baseline median {b:.2f} s, this {t:.2f} s, ratio {t / b:.2f} "
                  f"(runs {', '.join(f'{x:.2f}' for x in times['baseline'])} / "
                  f"{', '.join(f'{x:.2f}' for x in times['this'])})")  # fmt: skip
            print(f"  peak RSS: baseline {max(peaks['baseline'])} MB, this {max(peaks['this'])} MB")
            print(f"  records counted (read, duplicates dropped): baseline {totals['baseline']}, this {totals['this']}")
        per_record = 12
        print(f"duplicate check memory: {per_record} bytes a record = {per_record * 10_000_000 / 1e6:.0f} MB "
              "at 10M records (arrays, split between the reading processes)")  # fmt: skip
    finally:
        shutil.rmtree(out, ignore_errors=True)
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False)


if __name__ == "__main__":
    main()
