"""The example in the package docstring runs and does what it says."""

import limelight.bandits


def test_package_docstring_example_runs() -> None:
    doc = limelight.bandits.__doc__ or ""
    code = doc.split("Example::", 1)[1]
    lines = [line[4:] for line in code.splitlines() if line.startswith("    ") or not line]
    namespace: dict = {}
    exec(compile("\n".join(lines), "<bandits example>", "exec"), namespace)
    assert namespace["promote"], namespace["reason"]  # the learned policy beats uniform
    assert 0 < namespace["propensity"] <= 1
    assert limelight.bandits.policy_from_state(namespace["state"]).n_actions == 3
