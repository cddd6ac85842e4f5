"""Write the JSON Schema of every event into contracts/schemas/, refusing breaking changes.

Run with `make schemas`. The committed files are the published contract: the test suite fails when
the models drift from them, and this script will not overwrite one with a breaking change.
"""

import json
import sys
from pathlib import Path

from zorgstroom_contracts import EVENT_TYPES, Envelope
from zorgstroom_contracts.asyncapi import asyncapi_document
from zorgstroom_contracts.compat import breaking_changes, schema_of

SCHEMAS = Path(__file__).parent / "schemas"


def path_for(event_type: str, version: int) -> Path:
    return SCHEMAS / f"{event_type}.v{version}.json"


def render(schema: dict) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    SCHEMAS.mkdir(exist_ok=True)
    refused = []
    for spec in EVENT_TYPES.values():
        path, new = path_for(spec.event_type, spec.schema_version), schema_of(spec)
        if path.exists():
            problems = breaking_changes(json.loads(path.read_text()), new)
            if problems:
                refused.append(f"{path.name}: " + "; ".join(problems))
                continue
        path.write_text(render(new))
    (SCHEMAS / "Envelope.json").write_text(render(Envelope.model_json_schema()))
    (SCHEMAS / "asyncapi.json").write_text(render(asyncapi_document()))
    for line in refused:
        print(f"refused (breaking; publish a new version on a .v2 topic): {line}", file=sys.stderr)
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main())
