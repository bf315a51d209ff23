"""What the examples share: a --fast switch (small data, short schedules) for CI."""

import argparse


def parse_args(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--fast", action="store_true",
                   help="tiny data and one-epoch stages: checks that the example runs (CI)")
    return p.parse_args()


def fast_params(fast):
    """Estimator parameters for --fast (short stages); the defaults otherwise."""
    return dict(unfreeze_epochs=(1, 1), batch_size=8) if fast else {}
