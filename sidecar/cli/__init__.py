"""The ``igbridge`` command line: typer commands and following a stream."""
