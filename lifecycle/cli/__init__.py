"""The command line: arguments in, an api call, rendering out.

Lives here: main.py, the argparse tree and one cmd_* function per verb. Exit codes live
in lifecycle.errors.ExitCode and are set only in main(), which also turns every
LifecycleError into rendered problems (never a traceback unless LIFECYCLE_FULL_ERROR=1).

May import: lifecycle.api, lifecycle.render, lifecycle.errors (and spec.base for
parsing durations). Never lifecycle.execute: RunOptions and RunResult come from api
(an import-linter contract checks it). Heavy imports stay inside the verbs that need them.
"""
