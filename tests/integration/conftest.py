import pytest


@pytest.fixture(autouse=True)
def _fresh_state(clean_state):
    """Every integration test starts from migrated, seeded, empty-of-user-data stores."""
    yield
