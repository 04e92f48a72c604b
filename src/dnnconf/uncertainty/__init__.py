"""MC dropout (the note §5): predictions with dropout on at inference, their mean, spread and entropy.

- `mc_dropout`: the sampling, batched, with only the dropout layers in training mode.
- `evaluation`: a run's split without and with MC dropout, mc_metrics.json and its plots.
- `calibration`: accuracy, NLL, Brier score, ECE, reliability bins and their plots.
"""
