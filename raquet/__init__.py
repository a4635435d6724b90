"""raquet: agentless compliance sweeps and remediation on pyinfra.

pyinfra's API needs gevent's monkey-patching before paramiko, requests or sockets are
imported (its CLI does the same in `pyinfra_cli/__init__.py`); without it every host's
connect and command runs one after another. Patching here, at the top of the package,
makes every entry point (the CLI, the tests, the benchmarks) parallel.
"""

from gevent import monkey

monkey.patch_all()

__version__ = "0.1.0"
