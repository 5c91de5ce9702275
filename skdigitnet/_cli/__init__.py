"""The command line, ``python -m skdigitnet``."""
