"""Neural network modules: the visual and audio towers, cross-attention and heads."""
