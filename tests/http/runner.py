"""Runs the HTTP suite (every tests/http/test_*.py) and prints a summary line.

    runner.py [--build DIR] [--mnist DIR] [--valgrind] [-v] [-k PATTERN]...

Exit status 0 only when every test passed and no test was skipped, except the skips listed in
ALLOWED_SKIPS below (each with its reason and the only kind of run where it may happen): a test that
skips itself for a missing tool or a changed environment fails the run. run.sh is the usual entry
point."""
import argparse
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))

# The only skips a run may have: (test id prefix, the skip's exact reason, the run it is allowed in).
# Every one is a timing- or thread-based test that cannot work under valgrind, which serialises the
# server's threads and runs it ~50x slower; the same tests run (and must pass) in every other run.
ALLOWED_SKIPS = [
    ("test_faults.SlowClients.", "timing-based: too slow under valgrind", "valgrind"),
    ("test_faults.Drain.", "timing-based: too slow under valgrind", "valgrind"),
    ("test_boundaries.BatchSizeCap.", "timing-based: too slow under valgrind", "valgrind"),
    ("test_config.Signals.test_sigterm_to_any_thread_drains_and_exits_zero", "valgrind runs the threads itself",
     "valgrind"),
]


def unexpected_skips(skipped, valgrind):
    """The (test id, reason) of each skip that is not on ALLOWED_SKIPS for this kind of run."""
    bad = []
    for test, reason in skipped:
        tid = test.id()
        if not any(tid.startswith(prefix) and reason == why and (when != "valgrind" or valgrind)
                   for prefix, why, when in ALLOWED_SKIPS):
            bad.append((tid, reason))
    return bad


class Result(unittest.TextTestResult):
    """Counts subtests as cases too."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.subtests_passed = 0
        self.subtests_failed = 0

    def addSubTest(self, test, subtest, err):
        if err is None:
            self.subtests_passed += 1
        else:
            self.subtests_failed += 1
        super().addSubTest(test, subtest, err)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(HERE, "..", "..", "build"), help="directory with vae-server")
    ap.add_argument("--mnist", default=os.path.join(HERE, "..", "..", "..", "shared", "data", "mnist"),
                    help="directory with t10k-images-idx3-ubyte.gz (else the committed slice)")
    ap.add_argument("--valgrind", action="store_true", help="run every server under valgrind --leak-check=full")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("-k", dest="patterns", action="append", help="only tests whose name contains this")
    args = ap.parse_args()

    os.environ["VAE_TEST_BUILD"] = os.path.abspath(args.build)
    os.environ["VAE_TEST_MNIST"] = os.path.abspath(args.mnist)
    if args.valgrind:
        os.environ["VAE_TEST_VALGRIND"] = "1"
    sys.path.insert(0, HERE)

    import common
    import server
    binary = server.server_binary()
    if not os.access(binary, os.X_OK):
        print("run.sh: %s not found: build it first (make)" % binary, file=sys.stderr)
        return 2
    print("vae-server: %s%s" % (binary, " (under valgrind)" if args.valgrind else ""))
    print("digits:     %s" % common.digits().source)
    print("models:     mnist, %s (%s)" % (common.SECOND_MODEL, common.FASHION_WEIGHTS))

    loader = unittest.TestLoader()
    if args.patterns:
        loader.testNamePatterns = ["*%s*" % p for p in args.patterns]
    suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    # last, whatever -k selected: every reply the tests above saw, validated against openapi.yaml
    import replies
    suite.addTests(unittest.TestLoader().loadTestsFromModule(replies))
    runner = unittest.TextTestRunner(verbosity=2 if args.verbose else 1, resultclass=Result, stream=sys.stdout)
    started = time.monotonic()
    result = runner.run(suite)
    elapsed = time.monotonic() - started

    if server.VALGRIND_REPORTS:
        print("\nvalgrind, per server:")
        for name, lines in server.VALGRIND_REPORTS:
            print("  %s" % name)
            for line in lines:
                print("      %s" % line)

    # a failing subtest fails its test once; errors in setUpClass/tearDownClass count as failures too
    failed_ids = {getattr(t, "test_case", t).id() for t, _ in result.failures + result.errors}
    run_failed = {i for i in failed_ids if not i.startswith(("setUpClass", "tearDownClass", "setUpModule",
                                                             "tearDownModule"))}
    skipped = len(result.skipped)
    passed = result.testsRun - len(run_failed) - skipped
    failed = len(failed_ids)
    print("\nHTTP suite: %d tests (%d subtest cases passed, %d failed) in %.1f s" % (
        result.testsRun, result.subtests_passed, result.subtests_failed, elapsed))
    if failed_ids:
        print("failed: " + ", ".join(sorted(failed_ids)))
    bad_skips = unexpected_skips(result.skipped, args.valgrind)
    for tid, reason in bad_skips:
        print("skipped and not allowed (see ALLOWED_SKIPS in tests/http/runner.py): %s: %s" % (tid, reason))
    print("%d passed, %d failed, %d skipped" % (max(passed, 0), failed + len(bad_skips), skipped))
    return 0 if result.wasSuccessful() and not bad_skips else 1


if __name__ == "__main__":
    sys.exit(main())
