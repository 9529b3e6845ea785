"""GUI tests: pytest-qt on the offscreen Qt platform (see conftest.py)."""
