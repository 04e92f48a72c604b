"""`dnnconf sweep`: an Optuna search over any config keys, one run folder per trial.

- `space`: the search space file. `study`: the Optuna study (storage, sampler, pruner).
- `trials`: one trial = one `dnnconf.run.train`. `summary`: best.yaml, trials.csv, plots. `search`: the driver.
"""
