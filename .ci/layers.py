"""The crates' dependency rules (ARCHITECTURE.md, "The crates"), checked on
the workspace's declared and resolved dependencies. Exits non-zero, naming
the crate and the dependency, when a rule is broken."""

import json
import subprocess
import sys

# Crates that may depend on sea-orm (or sqlx, or the migration framework).
PERSISTENCE = {"plex-source-store", "plex-source-migrations", "loadbench"}
PERSISTENCE_DEPS = {"sea-orm", "sea-orm-migration", "sqlx"}
# What the domain may not reach, even through another crate.
TRANSPORTS = {"tonic", "axum", "hyper", "prost", "sea-orm", "sqlx"}
# Each library crate and the workspace crates it may use.
ALLOWED = {
    "plex-source-domain": set(),
    "plex-source-store": {"plex-source-domain", "plex-source-migrations"},
    "plex-source-blueprint": {"plex-source-domain", "plex-source-store"},
    "plex-source-core": {"plex-source-domain", "plex-source-store"},
    "plex-source-proto": set(),
}


def main() -> int:
    meta = json.loads(
        subprocess.check_output(
            ["cargo", "metadata", "--format-version", "1", "--no-deps"]
        )
    )
    members = {p["name"] for p in meta["packages"]}
    broken = []
    for package in meta["packages"]:
        name = package["name"]
        deps = {d["name"] for d in package["dependencies"] if d["kind"] is None}
        if name not in PERSISTENCE:
            for dep in sorted(deps & PERSISTENCE_DEPS):
                broken.append(f"{name} depends on {dep}: only the store and migrations may")
        if name in ALLOWED:
            for dep in sorted((deps & members) - ALLOWED[name]):
                broken.append(f"{name} depends on {dep}, which its layer may not use")
    tree = subprocess.check_output(
        ["cargo", "tree", "-p", "plex-source-domain", "-e", "normal", "--prefix", "none"],
        text=True,
    )
    reached = {line.split()[0] for line in tree.splitlines() if line.strip()}
    for dep in sorted(reached & TRANSPORTS):
        broken.append(f"plex-source-domain reaches {dep}")
    for line in broken:
        print(f"layers: {line}", file=sys.stderr)
    if not broken:
        print(f"layers: {len(meta['packages'])} crates keep their dependency rules")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
