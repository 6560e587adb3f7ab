"""The commands of `python -m streams` (worker, surveys, report, admin), one module each: arguments and output.
Imports anything below it (core, schemas, runtime, agents, web); nothing imports streams.cli except streams/__main__.py."""
