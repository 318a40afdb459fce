"""Print each stack of a cloud assembly with its resource count (used by `make synth`)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path


def summarize(assembly: Path) -> list[tuple[str, int, Counter[str]]]:
    manifest = json.loads((assembly / "manifest.json").read_text())
    rows = []
    for artifact in manifest["artifacts"].values():
        if artifact["type"] != "aws:cloudformation:stack":
            continue
        template = json.loads((assembly / artifact["properties"]["templateFile"]).read_text())
        types = Counter(resource["Type"] for resource in template.get("Resources", {}).values())
        rows.append((artifact["displayName"], sum(types.values()), types))
    return rows


def main(argv: list[str]) -> int:
    assembly = Path(argv[0] if argv else "cdk.out")
    rows = summarize(assembly)
    width = max((len(name) for name, _, _ in rows), default=10)
    print(f"\n{'stack':<{width}}  resources  (most common types)")
    for name, total, types in rows:
        common = ", ".join(f"{kind.removeprefix('AWS::')} x{count}" for kind, count in types.most_common(3))
        print(f"{name:<{width}}  {total:>9}  ({common})")
    print(f"\n{len(rows)} stacks, {sum(t for _, t, _ in rows)} resources; templates in {assembly}/")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
