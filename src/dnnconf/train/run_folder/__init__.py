"""A run folder, `runs/<name>-<timestamp>/`, and everything that reads or writes one.

- `result`: `RunResult`, what `dnnconf.run.train` returns.
- `naming`: the folder's default name, and preparing it (`--out`, `--force`).
- `writing`: the inputs a run records first (config.yaml, normalization.json) and the outputs a finished run
  leaves (model.safetensors, history.csv, plots, report.md, report.html, metrics.json last).
- `loading`: a run's resolved config and trained network, back from the folder (older folders too).
- `lock`: one writer per folder. `files`: the checked readers of LATEST, manifest.json, state.json,
  normalization.json.

Every write goes through `dnnconf.safe_write` (whole or not at all, never through a link, a full disk in one
line); `dnnconf.train.finished` answers `--resume` of a run that had finished; the checkpoints in
`checkpoint/` are `dnnconf.train.checkpoint`'s.

The modules are imported one by one (`from dnnconf.train.run_folder.loading import load_run`): this face
imports nothing, so the light one (`lock`) stays light.
"""
