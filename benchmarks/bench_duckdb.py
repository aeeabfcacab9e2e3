"""The files source against DuckDB doing only the aggregation, on the same files, in the same run.

For each record count: DuckDB's `read_json` + `GROUP BY` hour, principal, model, region and account
(threads=2), our files source alone (its hourly rows, 2 worker processes), and the whole `build`
(source, prices, pages). Each is a fresh process, interleaved run by run; prints medians, ratios and
peak RSS. DuckDB is a benchmark-only dependency: `pip install -e '.[bench]'`.

    python benchmarks/bench_duckdb.py [--records 300000 1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_build import NOW, generate, timed

ROOT = Path(__file__).resolve().parent.parent

DUCKDB = """
import sys, duckdb
con = duckdb.connect(config={"threads": 2})
rows = con.execute('''
SELECT time_bucket(INTERVAL 1 HOUR, "timestamp"::TIMESTAMPTZ) AS hour, identity.arn, modelId, region, accountId,
       count(*), count(errorCode), sum(input.inputTokenCount), sum(output.outputTokenCount),
       sum(input.cacheReadInputTokenCount), sum(input.cacheWriteInputTokenCount)
FROM read_json(?, format = 'newline_delimited', columns = {
    "timestamp": 'VARCHAR', identity: 'STRUCT(arn VARCHAR)', modelId: 'VARCHAR', region: 'VARCHAR',
    accountId: 'VARCHAR', errorCode: 'VARCHAR',
    input: 'STRUCT(inputTokenCount BIGINT, cacheReadInputTokenCount BIGINT, cacheWriteInputTokenCount BIGINT)',
    output: 'STRUCT(outputTokenCount BIGINT)'})
GROUP BY ALL''', [sys.argv[1] + "/**/*.json.gz"]).fetchall()
print(len(rows), "hourly rows")
"""

SOURCE = """
import sys
from pathlib import Path
from generator.sources.files import read_files
result = read_files([Path(sys.argv[1])], workers=2)
print(len(result.rows), "hourly rows from", result.records, "records")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, nargs="+", default=[300_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "bedrock-usage-bench")
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="bench-site-"))
    print("records     what          median s   runs                 peak RSS   vs DuckDB")
    for n in args.records:
        generate(args.data / str(n), n)
        logs = str(args.data / str(n))
        commands = {
            "duckdb": [sys.executable, "-c", DUCKDB, logs],
            "files source": [sys.executable, "-c", SOURCE, logs],
            "whole build": [sys.executable, "-m", "generator", "build", "--source", "files", "--logs", logs,
                            "--now", NOW.isoformat(), "--env-file", "/dev/null", "--out", str(out / "site")],
        }  # fmt: skip
        times: dict[str, list[float]] = {k: [] for k in commands}
        peaks: dict[str, int] = dict.fromkeys(commands, 0)
        for _ in range(args.runs):  # interleaved, so machine noise hits each alike
            for what, command in commands.items():
                seconds, peak = timed(command)
                times[what].append(seconds)
                peaks[what] = max(peaks[what], peak)
        duck = statistics.median(times["duckdb"])
        for what, runs in times.items():
            median = statistics.median(runs)
            print(f"{n:>9,}   {what:<13} {median:>8.2f}   {', '.join(f'{t:.2f}' for t in runs):<20} "
                  f"{peaks[what]:>5} MB   {median / duck:.2f}x")  # fmt: skip
    print("target: files source <= 1.00x DuckDB, peak RSS < 500 MB")


if __name__ == "__main__":
    main()
