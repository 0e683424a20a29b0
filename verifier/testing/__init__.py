"""What other projects can test with, shipped with the package: the backend conformance suite
(the way fsspec ships ``tests/abstract``) and test doubles built only from Adobe's documentation
(`aep_fake`).

A backend, built in or installed through the ``verifier.backends`` entry point, proves itself by
running the same tests on a real server of its store::

    from verifier.testing import Conformance, StoreFixtures

    class MyFixtures(StoreFixtures):
        @pytest.fixture
        def store(self, ...) -> ConformanceStore:  # a fresh area on a real server
            ...

    class TestMine(Conformance, MyFixtures):
        pass

What the store offers (its native checksums) is read from the backend class, never from the test.
Needs pytest (``pip install 'verifier[test]'``).
"""

from verifier.testing.conformance import Conformance, Planted, StoreFixtures
from verifier.testing.runs import NOW, START, do_run, sql
from verifier.testing.store import ConformanceStore

__all__ = ["NOW", "START", "Conformance", "ConformanceStore", "Planted", "StoreFixtures", "do_run", "sql"]
