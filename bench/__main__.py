"""``python -m bench [--quick] [--only losses,metrics,training,own_runs,projection,umap_start,dashboard,gpu,plotly_floor,selection,player_floor]
[--out bench/results] [--no-report] [--report-only]``"""
from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

from . import SUITES
from .common import REPO, load_average, log, now, write_result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small sizes: a few minutes in all")
    ap.add_argument("--only", default=",".join(SUITES), help=f"comma-separated subset of {','.join(SUITES)}")
    ap.add_argument("--out", default=str(REPO / "bench" / "results"), help="folder for the <suite>.json files")
    ap.add_argument("--report", default=str(REPO / "BENCHMARKS.md"), help="the generated markdown report")
    ap.add_argument("--no-report", action="store_true", help="do not regenerate the report")
    ap.add_argument("--report-only", action="store_true", help="only render the report from existing JSON")
    args = ap.parse_args(argv)
    suites = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in suites if s not in SUITES]
    if unknown:
        print(f"error: unknown suite {unknown[0]!r}; valid: {', '.join(SUITES)}", file=sys.stderr)
        return 2
    out = Path(args.out)
    failed = []
    if not args.report_only:
        for suite in suites:
            module = importlib.import_module(f"bench.{suite}")
            started, load_start = now(), load_average()
            log(f"suite {suite} (quick={args.quick}); load average {load_start}")
            t0 = time.perf_counter()
            try:
                payload = module.run(args.quick)
            except Exception as e:  # noqa: BLE001 - one failing suite must not lose the others
                log(f"suite {suite} FAILED: {type(e).__name__}: {e}")
                failed.append(suite)
                payload = {"error": f"{type(e).__name__}: {e}"}
            if payload is None:  # hardware this machine lacks (a GPU): the last result, if any, stands
                log(f"suite {suite}: not measurable here; {out / (suite + '.json')} left as it was")
                continue
            payload["suite_wall_s"] = time.perf_counter() - t0
            path = write_result(out, suite, payload, started, load_start, args.quick)
            log(f"suite {suite} done in {payload['suite_wall_s']:.0f} s -> {path}")
    if not args.no_report:
        from .report import render

        Path(args.report).write_text(render(out))
        log(f"report -> {args.report}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
