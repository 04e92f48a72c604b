"""`dnnconf diagnose`: vanishing and exploding gradients, layer by layer, with a verdict (the note §1).

- `probe`: hooks that record each layer's activations and gradients during a few training steps.
- `diagnostics`: runs the probe on a config or a run folder and builds the report.
- `report`: the report's data (rows, facts, verdicts; JSON). `verdicts`: the rules, `thresholds` their numbers.
- `plots`: the heatmaps and the profile.
"""
