"""Model assembly and the replicated training loop (TensorFlow/Keras)."""
