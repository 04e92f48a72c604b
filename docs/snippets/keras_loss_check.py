"""Why Keras 3 on its torch backend trains an N(0, 1)-initialized ReLU or SELU network far worse than
dnnconf (the initialization study's Keras reference): its cross-entropy on a softmax output is computed
from the probabilities clipped to [1e-7, 1 − 1e-7], so an example whose true class gets p < 1e-7 gives no
gradient; dnnconf (and Keras on TensorFlow, which recovers the logits) computes it from the logits.

    python docs/snippets/keras_loss_check.py runs/init random_normal_1-relu-shallow

trains the variant's seeds 0 and 1 (their config.yaml in the study folder) in Keras both ways and prints
the share of training images whose true class starts below 1e-7 and each run's test accuracy.
"""

import functools
import os
import sys

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")

from dnnconf.config import load_config  # noqa: E402
from dnnconf.studies import keras_reference as kr  # noqa: E402


def main(folder: str, variant: str) -> None:
    keras = kr.import_keras()
    for seed in (0, 1):
        config = load_config(f"{folder}/{variant}/seed-{seed}/config.yaml")
        for logits in (False, True):
            resolved, data = kr.reference_data(config)
            keras.utils.set_random_seed(seed)
            model = kr.keras_model(resolved)
            steps = -(-len(data["x_train"]) // resolved.training.batch_size)
            callbacks = kr.compile_for(model, resolved, steps)  # the reference: loss on the probabilities
            if logits:  # the same network, its loss on the logits
                model.layers[-1].activation = keras.activations.linear
                model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                              optimizer=kr.keras_optimizer(resolved, kr.keras_schedule(resolved, steps)[0]),
                              metrics=["accuracy"])
            outputs = keras.ops.convert_to_numpy(model(data["x_train"][:2000]))
            probabilities = keras.ops.convert_to_numpy(keras.activations.softmax(outputs)) if logits else outputs
            true_class = probabilities[np.arange(2000), data["y_train"][:2000].astype(int)]
            kr.one_thread(functools.partial(kr.fit, model, resolved, data, resolved.training.epochs, callbacks))
            accuracy = kr.one_thread(functools.partial(kr.test_accuracy, model, data))
            print(f"{variant} seed {seed}, loss on {'logits' if logits else 'clipped probabilities'}: true class "
                  f"p < 1e-7 at the start for {np.mean(true_class < 1e-7):.0%} of 2,000 training images; "
                  f"test accuracy {accuracy:.4f}", flush=True)


if __name__ == "__main__":
    from dnnconf.errors import DnnconfError

    if len(sys.argv) != 3:
        print("usage: python docs/snippets/keras_loss_check.py STUDY_FOLDER VARIANT (e.g. runs/init "
              "random_normal_1-relu-shallow)", file=sys.stderr)
        sys.exit(2)
    try:
        main(*sys.argv[1:3])
    except DnnconfError as error:  # a missing folder or config, or no Keras: one line, exit 2
        print(f"keras_loss_check: {error}", file=sys.stderr)
        sys.exit(2)
