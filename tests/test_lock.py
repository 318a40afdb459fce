"""The locks are complete, hashed, agree with the top-level requirements and with each other, on every platform
the README promises; and the environment check names the package that differs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tools import check_env

ROOT = Path(__file__).resolve().parent.parent
LOCKS = {name: ROOT / name for name in ("requirements.lock", "requirements-dev.lock", "requirements-build.lock")}
#: The top-level requirements and the lock that must satisfy them.
TOP_LEVEL = {
    "requirements.txt": "requirements.lock",
    "requirements-dev.txt": "requirements-dev.lock",
    "requirements-build.txt": "requirements-build.lock",
}
#: The platforms the README promises (Linux and macOS, Python 3.11 and a newer one), as marker environments.
PLATFORMS = {
    f"{system}-py{python}": {
        **default_environment(),
        "sys_platform": system,
        "platform_system": {"linux": "Linux", "darwin": "Darwin"}[system],
        "platform_machine": machine,
        "python_version": python,
        "python_full_version": f"{python}.0",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
    }
    for system, machine in (("linux", "x86_64"), ("darwin", "arm64"))
    for python in ("3.11", "3.13")
}


def entries(lock: Path) -> list[tuple[Requirement, list[str]]]:
    """Each entry of a lock with its hashes, read as `make check-env` reads it."""
    return [(Requirement(requirement), hashes) for requirement, hashes in check_env.entries(lock.read_text())]


def pins_for(lock: Path, environment: dict[str, str]) -> dict[str, str]:
    return {
        canonicalize_name(req.name): next(iter(req.specifier)).version
        for req, _ in entries(lock)
        if req.marker is None or req.marker.evaluate(environment)
    }


def top_level(path: Path) -> list[Requirement]:
    result = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip() if not line.lstrip().startswith("#") else ""
        if line and not line.startswith("-"):
            result.append(Requirement(line))
    return result


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_entry_is_pinned_and_hashed(lock):
    found = entries(LOCKS[lock])
    assert found, f"{lock} is empty"
    for requirement, hashes in found:
        specifiers = list(requirement.specifier)
        assert len(specifiers) == 1, f"{lock}: {requirement}"
        assert specifiers[0].operator == "==", f"{lock}: {requirement} is not pinned"
        assert hashes, f"{lock}: {requirement.name} has no hash"
        assert all(h.startswith("--hash=sha256:") and len(h) == len("--hash=sha256:") + 64 for h in hashes)


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
@pytest.mark.parametrize("requirements", sorted(TOP_LEVEL))
def test_the_lock_satisfies_the_top_level_requirements_on_every_platform(requirements, platform):
    """Editing requirements*.txt without `make lock` fails here, naming the requirement."""
    environment = PLATFORMS[platform]
    pins = pins_for(LOCKS[TOP_LEVEL[requirements]], environment)
    for requirement in top_level(ROOT / requirements):
        if requirement.marker is not None and not requirement.marker.evaluate(environment):
            continue
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirements}: {requirement} is missing from {TOP_LEVEL[requirements]} ({platform})"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{requirements}: {requirement} is not satisfied by the locked {pins[name]}; run `make lock`"
        )
        if "server" in requirement.extras:  # moto[server]: the server's own requirements are locked too
            assert {"flask", "werkzeug"} <= pins.keys(), f"{requirement}: its server extra is not locked"


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_the_xgboost_split_survives_in_the_lock(platform):
    """xgboost-cpu has no macOS wheels: Linux gets it, macOS the full package, never both."""
    pins = pins_for(LOCKS["requirements-dev.lock"], PLATFORMS[platform])
    expected = "xgboost" if platform.startswith("darwin") else "xgboost-cpu"
    other = "xgboost-cpu" if expected == "xgboost" else "xgboost"
    assert pins.get(expected) == "3.2.0"
    assert other not in pins
    if platform.startswith("darwin"):
        assert "nvidia-nccl-cu12" not in pins, "the CUDA library is Linux-only"


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
@pytest.mark.parametrize("subset", ["requirements.lock", "requirements-build.lock"])
def test_runtime_and_build_locks_agree_with_the_dev_lock(subset, platform):
    """`make setup` then `make setup-dev` only adds packages: every shared package has one version."""
    environment = PLATFORMS[platform]
    dev = pins_for(LOCKS["requirements-dev.lock"], environment)
    for name, version in pins_for(LOCKS[subset], environment).items():
        if subset == "requirements.lock":
            assert dev.get(name) == version, f"{name}: {subset} pins {version}, the dev lock {dev.get(name)}"
        elif name in dev:
            assert dev[name] == version, f"{name}: {subset} pins {version}, the dev lock {dev[name]}"


def test_check_env_reads_the_lock_format_and_names_each_difference(tmp_path):
    lock = tmp_path / "x.lock"
    lock.write_text(
        "# header\n"
        "alpha==1.0 \\\n    --hash=sha256:" + "a" * 64 + " \\\n    --hash=sha256:" + "b" * 64 + "\n"
        "    # via -r requirements.txt\n"
        "Beta_Pkg==2.0 ; sys_platform == 'nowhere' \\\n    --hash=sha256:" + "c" * 64 + "\n"
        "gamma==3.0 \\\n    --hash=sha256:" + "d" * 64 + "\n"
    )
    expected = check_env.locked([lock])
    assert expected == {"alpha": "1.0", "gamma": "3.0"}, "a marker that does not hold here drops the entry"
    problems = check_env.differences(expected, {"alpha": "1.0", "gamma": "3.1", "delta": "0.1", "pip": "23.2.1"})
    assert problems == [
        "delta: 0.1 is installed but not in the lock (remove it, or rebuild: rm -rf .venv)",
        "gamma: the lock pins 3.0 but 3.1 is installed (run: make setup-dev)",
    ]
    assert check_env.differences(expected, {"alpha": "1.0"}) == [
        "gamma: the lock pins 3.0 but it is not installed (run: make setup-dev)"
    ]


def test_check_env_refuses_an_entry_that_is_not_pinned(tmp_path):
    lock = tmp_path / "x.lock"
    lock.write_text("alpha>=1.0\n")
    with pytest.raises(SystemExit, match="alpha is not pinned with =="):
        check_env.locked([lock])


#: The npm packages package.json declares: the CDK CLI and the IAM policy simulator of `make verify-iam`.
NPM_PACKAGES = ("aws-cdk", "@cloud-copilot/iam-simulate")


def test_npm_lock_pins_the_npm_packages_with_an_integrity_hash_and_runs_no_install_script():
    package = json.loads((ROOT / "package.json").read_text())
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert lock["lockfileVersion"] >= 2
    declared = {**package.get("dependencies", {}), **package.get("devDependencies", {})}
    pinned = {name: lock["packages"][f"node_modules/{name}"]["version"] for name in NPM_PACKAGES}
    assert declared == pinned, "exactly these packages, each at an exact version"
    for path, entry in lock["packages"].items():
        if not path:
            continue
        assert entry["integrity"].startswith("sha512-"), path
        assert not entry.get("hasInstallScript"), f"{path} runs an install script"
    assert "--ignore-scripts" in (ROOT / "Makefile").read_text(), "npm ci runs no lifecycle script"
