"""`dnnconf lr-find`: the learning-rate range test (the note §4).

- `finder`: train on an exponentially growing rate, record the loss, restore the weights.
- `outputs`: the plot, lr_find.csv and lr_find.json; the config with the chosen rate (`--apply`).
- `curve`: smoothing and the suggestion rules (steepest descent, the valley, the note's 1cycle rule).
"""
