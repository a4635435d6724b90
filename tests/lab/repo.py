"""The lab's own apt repository: real .deb packages in suites shaped like Debian's.

Old versions sit in `bookworm`; newer ones in `bookworm-updates` (regular) or in
`bookworm-security`, whose Release file carries Debian's own `Label: Debian-Security`,
so a sweep has to tell security updates apart exactly as on a real Debian host.
Real Debian packages (ClamAV and what it needs) sit in `bookworm` beside the lab's own,
so hosts install them offline from their configured repository, as agencies do.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from email.utils import formatdate
from pathlib import Path

ARCH = "amd64"
SUITES = {  # suite: (Label, Suite field)
    "bookworm": ("Debian", "stable"),
    "bookworm-updates": ("Debian", "stable-updates"),
    "bookworm-security": ("Debian-Security", "stable-security"),
}
# name: (installed version, pending version, suite of the pending version)
PACKAGES: dict[str, tuple[str, str | None, str | None]] = {
    "rqlab-openssl": ("1.0-1", "1.0-2", "bookworm-security"),
    "rqlab-sudo": ("1.0-1", "1.0-2", "bookworm-security"),
    "rqlab-tools": ("1.0-1", "1.1-1", "bookworm-updates"),
    # software a province bans (stand-ins carrying the real package names)
    "xmrig": ("6.21.0-1", None, None),
    "anydesk": ("6.3.2-1", None, None),
}


def installed_version(name: str) -> str:
    return PACKAGES[name][0]


def is_security(name: str) -> bool:
    return PACKAGES[name][2] == "bookworm-security"


def has_update(name: str) -> bool:
    return PACKAGES[name][1] is not None


def sources_list() -> str:
    return "".join(f"deb [trusted=yes] file:/srv/lab-repo {suite} main\n" for suite in SUITES)


def digest(debs: list[Path]) -> str:
    """A short hash of the catalogue, so a changed catalogue builds a new repository and layers."""
    text = repr(sorted(PACKAGES.items())) + repr(sorted(SUITES.items()))
    text += repr(sorted(deb.name for deb in debs))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def build(target: Path, debs: list[Path]) -> Path:
    """Build (once) the repository at `target`, with `debs` in the release suite, and return it."""
    if (target / ".done").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    (target / "pool").mkdir(parents=True)
    per_suite: dict[str, list[str]] = {suite: [] for suite in SUITES}
    per_suite["bookworm"] += [_copy(target, deb) for deb in debs]
    for name, (old, new, suite) in PACKAGES.items():
        per_suite["bookworm"].append(_deb(target, name, old))
        if new and suite:
            per_suite[suite].append(_deb(target, name, new))
    for suite, stanzas in per_suite.items():
        _index(target, suite, stanzas)
    (target / ".done").touch()
    return target


def _deb(root: Path, name: str, version: str) -> str:
    """Builds one real package with dpkg-deb and returns its Packages stanza."""
    control = (
        f"Package: {name}\nVersion: {version}\nArchitecture: all\n"
        f"Maintainer: raquet lab <lab@raquet.invalid>\nInstalled-Size: 1\n"
        f"Description: raquet lab package {name}\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp)
        (tree / "DEBIAN").mkdir()
        (tree / "DEBIAN/control").write_text(control)
        doc = tree / "usr/share/doc" / name
        doc.mkdir(parents=True)
        (doc / "VERSION").write_text(version + "\n")
        deb = root / "pool" / f"{name}_{version}_all.deb"
        subprocess.run(
            ["dpkg-deb", "--root-owner-group", "-b", str(tree), str(deb)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    data = deb.read_bytes()
    return control.replace(
        "Description:",
        f"Filename: pool/{deb.name}\nSize: {len(data)}\n"
        f"SHA256: {hashlib.sha256(data).hexdigest()}\nDescription:",
    )


def _copy(root: Path, deb: Path) -> str:
    """Puts a downloaded package into the pool and returns its Packages stanza."""
    shutil.copy(deb, root / "pool" / deb.name)
    control = subprocess.run(
        ["dpkg-deb", "-f", str(deb)], check=True, capture_output=True, text=True
    ).stdout
    data = deb.read_bytes()
    return control.rstrip("\n") + (
        f"\nFilename: pool/{deb.name}\nSize: {len(data)}\nSHA256: {hashlib.sha256(data).hexdigest()}\n"
    )


def _index(root: Path, suite: str, stanzas: list[str]) -> None:
    label, suite_name = SUITES[suite]
    binary = root / "dists" / suite / "main" / f"binary-{ARCH}"
    binary.mkdir(parents=True)
    packages = "\n".join(stanzas).encode()
    (binary / "Packages").write_bytes(packages)
    release = (
        f"Origin: Debian\nLabel: {label}\nSuite: {suite_name}\nVersion: 12\nCodename: {suite}\n"
        f"Architectures: {ARCH}\nComponents: main\nDate: {formatdate(usegmt=True)}\nSHA256:\n"
        f" {hashlib.sha256(packages).hexdigest()} {len(packages)} main/binary-{ARCH}/Packages\n"
    )
    (root / "dists" / suite / "Release").write_text(release)
