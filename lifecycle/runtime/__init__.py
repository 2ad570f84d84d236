"""Code that runs inside Ray (workers, trials, replicas). Imported by Ray, not by the CLI."""
