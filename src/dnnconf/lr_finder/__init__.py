"""`dnnconf lr-find`: the learning-rate range test (the note §4).

- `finder`: train on an exponentially growing rate, record the loss, restore the weights; plot and write.
- `curve`: smoothing and the suggestion rules (steepest descent, the valley, the note's 1cycle rule).
"""
