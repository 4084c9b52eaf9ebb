"""One-off commands on trained runs and weights: attention sharpness, I3D weight conversion."""
