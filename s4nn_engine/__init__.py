"""S4NN engine: exact, event-driven simulation and training of S4NN (no Qt, no plotting).

S4NN (Kheradpisheh and Masquelier, International Journal of Neural Systems 30(6),
2020) trains feed-forward networks of non-leaky integrate-and-fire neurons that
fire at most once per image, with the first output spike naming the class.
"""

from s4nn_engine.config import (
    LearningConfig,
    NetworkConfig,
    Settings,
    SettingsError,
    TrainingConfig,
    make_settings,
)

__version__ = "0.1.0"

__all__ = [
    "LearningConfig",
    "NetworkConfig",
    "Settings",
    "SettingsError",
    "TrainingConfig",
    "make_settings",
    "__version__",
]
