"""`python -m raquet` is the `raquet` command."""

from raquet.cli import main

main()
