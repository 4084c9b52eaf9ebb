"""What the modes train with: stages, backbones, optimizer, jitted steps, sharding, run logs, feature extraction."""
