"""--mode=recipe: the paper's whole recipe, its results table and the paper's claims checked against it."""
