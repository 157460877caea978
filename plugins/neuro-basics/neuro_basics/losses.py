"""Losses per replica. Arguments: y, prediction and mask (R, batch, neurons), neuron_mean (neurons,).

The mask is 0 on padding rows of a partial batch and, for multi-region models, on the outputs of
regions an image does not belong to (NDN3 multiplied both y and prediction by it).
"""

import tensorflow as tf


def _rows(mask):
    """Rows of the batch that count (a row counts if any of its outputs does)."""
    return tf.reduce_sum(tf.reduce_max(mask, axis=2), axis=1)  # (R,)


def _log_likelihood(y, pred, mask):
    """NDN3's Poisson log-likelihood terms y log(pred + 1e-6) - pred of the masked y and pred."""
    y, pred = y * mask, pred * mask
    return y * tf.math.log(pred + 1e-6) - pred


def poisson(y, pred, mask, neuron_mean):
    """NDN3 Poisson: -sum_{t,n} [y log(pred + 1e-6) - pred] / max(mean_n * T, 1e-8), per replica.

    ``mean_n`` is each neuron's mean response over all rows given to training (train and
    validation, as the thesis pipeline), ``T`` the number of rows in the batch.
    """
    log_likelihood = _log_likelihood(y, pred, mask)
    norm = tf.maximum(neuron_mean[None, :] * _rows(mask)[:, None], 1e-8)  # (R, neurons)
    # Scale every element, then one reduction per replica: XLA on CPU runs this faster than a
    # reduction over the batch followed by a division (docs/performance.md).
    return -tf.reduce_sum(log_likelihood * (1.0 / norm)[:, None, :], axis=[1, 2])


def poisson_summed(y, pred, mask, neuron_mean):
    """The field's Poisson loss, every neuron weighted alike, in ``poisson``'s units:
    -sum_{t,n} [y log(pred + 1e-6) - pred] * mean_n(1 / mean_n) / T, per replica.

    ``poisson`` weights neuron n by 1 / mean_n; this one weights all by the mean of those weights,
    so penalty strengths carry over between the two, and it is the reference implementation's
    summed loss divided by sqrt(n_train * T) * harmonic_mean_n(mean_n) (docs/components.md).
    """
    log_likelihood = _log_likelihood(y, pred, mask)
    weight = tf.reduce_mean(1.0 / tf.maximum(neuron_mean, 1e-8))
    return -tf.reduce_sum(log_likelihood, axis=[1, 2]) * weight / tf.maximum(_rows(mask), 1.0)


def gaussian(y, pred, mask, neuron_mean):
    """NDN3 Gaussian: sum (y - pred)^2 / T, per replica."""
    del neuron_mean
    squared = tf.square((y - pred) * mask)
    return tf.reduce_sum(squared, axis=[1, 2]) / tf.maximum(_rows(mask), 1.0)


LOSSES = {"poisson": poisson, "poisson_summed": poisson_summed, "gaussian": gaussian}
