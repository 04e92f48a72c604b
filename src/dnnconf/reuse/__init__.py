"""Reusing trained layers (the note §2): transfer learning and unsupervised pretraining.

- `transfer`: a network built on a source run's layers, and the plan of which to freeze and when.
- `pretrain`: an autoencoder (or greedy layer-wise) pretraining whose encoder starts the network.
- `autoencoder`: the autoencoder built from the config's hidden layers.
"""
