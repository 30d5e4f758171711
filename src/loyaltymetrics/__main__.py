"""``python -m loyaltymetrics``: the command-line interface."""

from loyaltymetrics.cli import main

main()
