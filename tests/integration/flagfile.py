"""flagfile.py - the steps a test script and a helper process it started
take in turn, as empty files named TAG-STEP in a directory: done() makes
one, wait() waits for one (a deadline, then exits with a message).

Used from the python3 heredocs of the tests (PYTHONPATH names this
directory): flags = Flags(directory, tag); flags.done("open");
flags.wait("remove").
"""
import os
import sys
import time


class Flags:
    def __init__(self, directory, tag):
        self.directory, self.tag = directory, tag

    def _path(self, step):
        return os.path.join(self.directory, self.tag + "-" + step)

    def done(self, step):
        open(self._path(step), "w").close()

    def wait(self, step, secs=60):
        end = time.time() + secs
        while not os.path.exists(self._path(step)):
            if time.time() > end:
                sys.exit("timed out waiting for " + step)
            time.sleep(0.05)
