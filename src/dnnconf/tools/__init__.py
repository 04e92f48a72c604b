"""Tools built on the training pieces (lr-find, …); none has a training loop of its own."""
