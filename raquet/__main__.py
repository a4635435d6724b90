"""`python -m raquet` is the `raquet` command."""

from raquet.entry import main

main()
