"""Data files bundled with S4NN Explorer, installed as the package ``s4nn_engine.assets``."""
