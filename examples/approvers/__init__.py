"""Example approvers for the example specs: alice@example.com (model-risk) and
bob@example.com (product).

Their ed25519 keys are derived from published seeds, so anyone can make them: they are
EXAMPLE keys, good for trying `lifecycle approve` and for re-signing the example
approvals after a change to specs/fraud.yaml, and worthless as a control. A platform that
relies on approvals replaces conf/approvers with its own approvers (docs/approvals.md).

    python -m examples.approvers.sign              # re-sign specs/fraud.yaml's approvals
    python -m examples.approvers.sign --keys DIR   # also write the key files, to try
                                                   # `lifecycle approve ... --key DIR/alice`
"""
