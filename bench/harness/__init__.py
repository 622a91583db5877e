"""The pieces of ``bench/run.py``: processes and CPU accounting, wrk, scenarios, the report.

Nothing here is imported by lychgate itself; ``bench/run.py`` puts ``bench/`` on ``sys.path``
(by being run as a script from it) and imports these modules as the ``harness`` package.
"""
