"""Offline vulnerability data (issue 14): OSV, the Debian security tracker, NVD CVE 2.0
and MSRC CVRF read into one form (`Vulnerability` / `Affected` / `Range`) and indexed
(`VulnIndex`) to tell which installed packages, applications and Windows builds are
vulnerable, by dict lookups and version keys compared the way each package manager
compares (`raquet.vulns.versions`).

    index, problems = load_index([Path("all.zip"), Path("nvdcve-2.0-2024.json.gz")])
    index.match(Installed(os=("debian", "12"), packages=[("libc6", "glibc", "2.36-9+deb12u3")]))
"""

from raquet.vulns.index import DatasetInfo, VulnIndex, os_space
from raquet.vulns.model import (
    Affected,
    Application,
    Format,
    Installed,
    Match,
    Package,
    Range,
    Vulnerability,
    WindowsBuild,
)
from raquet.vulns.names import Names, application_cpes
from raquet.vulns.read import FormatChoice, detect, load_index, read_vulns
from raquet.vulns.versions import Scheme, compare, version_key

__all__ = [
    "Affected",
    "Application",
    "DatasetInfo",
    "Format",
    "FormatChoice",
    "Installed",
    "Match",
    "Names",
    "Package",
    "Range",
    "Scheme",
    "VulnIndex",
    "Vulnerability",
    "WindowsBuild",
    "application_cpes",
    "compare",
    "detect",
    "load_index",
    "os_space",
    "read_vulns",
    "version_key",
]
