"""proxylab benchmarks (not part of the test suite).

``python -m bench [--quick] [--only losses,metrics,training,own_runs,projection,umap_start,dashboard,gpu,plotly_floor,selection,player_floor] [--out bench/results]``

Every suite writes ``<out>/<suite>.json`` (machine, versions, command, results); ``bench.report``
renders all of them into ``BENCHMARKS.md`` at the repository root. Performance targets are ratios
against a reference measured in the same run on the same machine (never absolute numbers copied
from elsewhere).
"""
SUITES = ("losses", "metrics", "training", "own_runs", "projection", "umap_start", "dashboard", "gpu", "plotly_floor",
          "selection", "player_floor")
