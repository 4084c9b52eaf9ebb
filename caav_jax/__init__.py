"""caav_jax: cross-attentional audio-visual fusion for dimensional emotion recognition in JAX."""
