"""Code that runs inside Ray Serve: the router and model servers (app), the rollout
controller (rollout), config deploys (control), request checks (requests, no Ray)."""
