"""The command line: arguments in, an api call, rendering out. Exit codes live in
lifecycle.errors.ExitCode and are set only in main()."""
