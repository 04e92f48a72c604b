"""MC dropout (the note §5): predictions with dropout on at inference, their mean, spread and entropy.

- `mc_dropout`: the sampling, batched, with only the dropout layers in training mode; a run's evaluation.
- `calibration`: accuracy, NLL, Brier score, ECE, reliability bins and their plots.
"""
