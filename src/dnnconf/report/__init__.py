"""Pages to look at runs in a browser: `report.html` in every run folder (`run_report`), rewritten after
each epoch while it trains, and `dnnconf compare` (`compare`) overlaying runs, studies and sweeps.
Both are single self-contained files (`page`); their words come from one en/zh table (`strings`).
"""
