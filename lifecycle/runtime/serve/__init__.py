"""Ray Serve: the Router (`router`: split, shadow, sticky keys, draining, the monitor feed,
per-slot statistics), one model server per version slot (`model`), request checks and
routing arithmetic (`requests`, pure), and config deploys and handles the driver and the
rollout controller use to change the application live (`control`)."""
