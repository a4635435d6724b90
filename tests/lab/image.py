"""The lab's Debian image, built once with debootstrap and cached as a chain of overlay layers.

Each layer is the upper directory of an overlay mounted over the layers before it, so a
host's root is `overlay(lower=layers…, upper=its own)`. A layer is named by its whole
chain (`base+repo+clamav`), built once, and reused until IMAGE_VERSION changes.

ClamAV's Debian packages are downloaded once and served from the lab's own repository,
the only one lab hosts know: hosts that have ClamAV install it from there at build time,
and a remediation installs exactly the same versions from there, offline.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.lab import repo

IMAGE_VERSION = "5"
SUITE = "bookworm"
CACHE = Path(os.environ.get("RAQUET_LAB_CACHE", "/var/cache/raquet-lab")) / f"v{IMAGE_VERSION}"
MIRROR = os.environ.get("RAQUET_LAB_MIRROR", "http://deb.debian.org/debian")
BASE_PACKAGES = "openssh-server,procps,iproute2,nftables,iptables,sudo"
CLAMAV_PACKAGES = "clamav clamav-daemon clamav-freshclam"
NO_SERVICES = "#!/bin/sh\nexit 101\n"  # policy-rc.d: packages must not start daemons at build time
# The lab's ClamAV signatures are its own (official, signed ones cannot be made offline), and
# Debian's init script refuses to start clamd without the official main and daily databases.
# After every dpkg run (a remediation installing ClamAV included) that check is switched off.
ANY_DATABASE = (
    "post-invoke=sed -i 's/^  for db in main daily; do$/  for db in; do/' "
    "/etc/init.d/clamav-daemon 2>/dev/null || true\n"
)


@dataclass(frozen=True)
class Step:
    """One layer: a name and the shell script that builds it inside a chroot of the layers below."""

    name: str
    script: str
    prepare: str = ""  # run on the jump host first, with $ROOT the merged tree


def _run(cmd: Sequence[str], **kwargs: object) -> None:
    subprocess.run(list(cmd), check=True, **kwargs)  # type: ignore[call-overload]


def base() -> Path:
    """A minimal Debian with OpenSSH, made by debootstrap and cached."""
    target = CACHE / "base"
    if (target / ".done").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=CACHE, prefix="base."))
    _run(
        ["debootstrap", "--variant=minbase", f"--include={BASE_PACKAGES}", SUITE, str(tmp), MIRROR],
        stdout=subprocess.DEVNULL,
    )
    (tmp / "usr/sbin/policy-rc.d").write_text(NO_SERVICES)
    (tmp / "usr/sbin/policy-rc.d").chmod(0o755)
    (tmp / "etc/dpkg/dpkg.cfg.d/raquet-lab").write_text(ANY_DATABASE)
    for key in (tmp / "etc/ssh").glob("ssh_host_*"):
        key.unlink()  # every lab host gets its own keys
    (tmp / ".done").touch()
    tmp.rename(target)
    return target


def layers(steps: Sequence[Step]) -> list[Path]:
    """The cached layer directories for `steps` on top of the base, lowest first; built if missing."""
    built = [base()]
    for depth in range(1, len(steps) + 1):
        chain = steps[:depth]
        built.append(_layer(chain, built))
    return built


def _layer(chain: Sequence[Step], below: list[Path]) -> Path:
    key = "+".join(step.name for step in chain)
    if len(key) > 120:
        key = hashlib.sha256(key.encode()).hexdigest()[:24]
    target = CACHE / "layers" / key
    if (target / ".done").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=target.parent, prefix=".build."))
    upper, scratch, merged = work / "upper", work / "work", work / "merged"
    for d in (upper, scratch, merged):
        d.mkdir()
    step = chain[-1]
    lower = ":".join(str(p) for p in reversed(below))
    script = f"""
set -e
mount -t overlay overlay -o lowerdir={lower},upperdir={upper},workdir={scratch} {merged}
mount -t proc proc {merged}/proc
mount --rbind /dev {merged}/dev
cp /etc/resolv.conf {merged}/etc/resolv.conf
export ROOT={merged}
{step.prepare}
chroot {merged} /bin/sh -e -c {_sh_quote(step.script)}
"""
    _run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"},
    )
    upper.rename(target)
    shutil.rmtree(work)
    (target / ".done").touch()
    return target


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


CLAMAV = Step(
    "clamav",
    f"apt-get install -y -qq --no-install-recommends {CLAMAV_PACKAGES} >/dev/null"
    " && rm -f /var/cache/apt/archives/*.deb",
)


def debian_debs() -> list[Path]:
    """ClamAV's packages and whatever they need beyond the base, downloaded once from MIRROR."""
    target = CACHE / "debs"
    if not (target / ".done").exists():
        lower = base()
        shutil.rmtree(target, ignore_errors=True)
        work = Path(tempfile.mkdtemp(dir=CACHE, prefix=".debs."))
        upper, scratch, merged, out = work / "upper", work / "work", work / "merged", work / "out"
        for d in (upper, scratch, merged, out):
            d.mkdir()
        script = f"""
set -e
mount -t overlay overlay -o lowerdir={lower},upperdir={upper},workdir={scratch} {merged}
mount -t proc proc {merged}/proc
cp /etc/resolv.conf {merged}/etc/resolv.conf
printf 'deb {MIRROR} {SUITE} main\\n' > {merged}/etc/apt/sources.list
chroot {merged} sh -e -c 'apt-get update -qq && apt-get install -y -qq --download-only --no-install-recommends {CLAMAV_PACKAGES} >/dev/null'
cp {merged}/var/cache/apt/archives/*.deb {out}/
"""
        _run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"},
        )
        out.rename(target)
        shutil.rmtree(work)
        (target / ".done").touch()
    return sorted(target.glob("*.deb"))


def repo_step() -> Step:
    """Points apt at the lab's own repository (and nowhere else) and refreshes its lists."""
    debs = debian_debs()
    digest = repo.digest(debs)
    source = repo.build(CACHE / f"repo-{digest}", debs)
    return Step(
        "repo-" + digest,
        "apt-get update -qq",
        prepare=(
            f"mkdir -p $ROOT/srv && cp -a {source} $ROOT/srv/lab-repo && "
            f"printf '%s' {_sh_quote(repo.sources_list())} > $ROOT/etc/apt/sources.list"
        ),
    )


def packages_step(packages: Sequence[str], upgraded: Sequence[str] = ()) -> Step:
    """Installs lab packages at their old versions, so newer ones in the repo are pending;
    `upgraded` ones at their newer version."""
    versions = {name: repo.installed_version(name) for name in packages}
    versions.update(
        {name: repo.PACKAGES[name][1] or repo.installed_version(name) for name in upgraded}
    )
    pinned = " ".join(f"{name}={version}" for name, version in sorted(versions.items()))
    label = "-".join(sorted(packages)) + "".join(f"-{n}+" for n in sorted(upgraded))
    return Step(
        "pkgs-" + label.lstrip("-"),
        f"apt-get install -y -qq --allow-downgrades {pinned} >/dev/null",
    )


def host_layers(clamav: bool, packages: Sequence[str], upgraded: Sequence[str] = ()) -> list[Path]:
    """The lower layers for one host's overlay, lowest first."""
    steps = [repo_step()]
    if clamav:
        steps.append(CLAMAV)
    if packages or upgraded:
        steps.append(packages_step(packages, upgraded))
    return layers(steps)
