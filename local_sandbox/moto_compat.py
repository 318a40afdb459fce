"""LOCAL EMULATION ONLY: adapt a synthesized template to what moto's CloudFormation can create.

Every change is listed in the returned ``changes`` so that a test can pin exactly how the template moto
runs differs from the one AWS runs. The facts behind each change are in DESIGN.md ("moto 5.2.5 as a local
AWS"):

* the ``BootstrapVersion`` parameter and its rule read an SSM parameter that only `cdk bootstrap` creates;
* moto's KMS model reads key tags as ``TagKey``/``TagValue`` instead of CloudFormation's ``Key``/``Value``,
  and stores a key policy given as a JSON object unserialized (DescribeKey then fails): the policy is passed
  as a JSON string built with ``Fn::Join``, so its intrinsic functions still resolve;
* Lambda-backed custom resources (S3 auto-delete, restrict default security group) need a Lambda runtime
  (Docker) and the bootstrap asset bucket: in-process moto has neither, so they and their provider are
  dropped. What they do in AWS (emptying buckets on destroy, locking the default security group) is not
  exercised locally.
"""

from __future__ import annotations

import copy
import json
from typing import Any


def _referenced_ids(value: Any) -> set[str]:
    text = json.dumps(value)
    return {part.split('"')[0] for part in text.split('"Fn::GetAtt": ["')[1:]} | {
        part.split('"')[0] for part in text.split('"Ref": "')[1:]
    }


def _is_intrinsic(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)).startswith(("Ref", "Fn::"))


def _json_pieces(value: Any) -> list[Any]:
    """JSON text of ``value`` as Fn::Join pieces: literal text, and intrinsics (which resolve to strings)."""
    if _is_intrinsic(value):
        return ['"', value, '"']
    if isinstance(value, dict):
        pieces: list[Any] = ["{"]
        for index, (key, item) in enumerate(value.items()):
            pieces += [("," if index else "") + json.dumps(key) + ":", *_json_pieces(item)]
        return [*pieces, "}"]
    if isinstance(value, list):
        pieces = ["["]
        for index, item in enumerate(value):
            pieces += [","] * bool(index) + _json_pieces(item)
        return [*pieces, "]"]
    return [json.dumps(value)]


def json_string(value: Any) -> dict[str, Any]:
    """``value`` (which may contain intrinsic functions) as a CloudFormation expression of its JSON text."""
    merged: list[Any] = []
    for piece in _json_pieces(value):
        if isinstance(piece, str) and merged and isinstance(merged[-1], str):
            merged[-1] += piece
        else:
            merged.append(piece)
    return {"Fn::Join": ["", merged]}


def for_moto(template: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A copy of ``template`` that moto can create, and the list of what was changed."""
    template = copy.deepcopy(template)
    changes: list[str] = []
    if template.get("Parameters", {}).pop("BootstrapVersion", None) is not None:
        changes.append("removed parameter BootstrapVersion")
    if template.get("Rules", {}).pop("CheckBootstrapVersion", None) is not None:
        changes.append("removed rule CheckBootstrapVersion")
    if "Rules" in template and not template["Rules"]:
        del template["Rules"]

    resources = template["Resources"]
    for logical_id, resource in resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::KMS::Key" and props.get("Tags"):
            props["Tags"] = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in props["Tags"]]
            changes.append(f"{logical_id}: KMS tags as TagKey/TagValue")
        if resource["Type"] == "AWS::KMS::Key" and isinstance(props.get("KeyPolicy"), dict):
            props["KeyPolicy"] = json_string(props["KeyPolicy"])
            changes.append(f"{logical_id}: KMS key policy as a JSON string")

    custom = {k for k, v in resources.items() if v["Type"].startswith("Custom::")}
    providers: set[str] = set()
    for logical_id in custom:
        providers |= _referenced_ids(resources[logical_id]["Properties"].get("ServiceToken"))
    # the provider's role goes with its function
    for logical_id in list(providers):
        providers |= {
            r for r in _referenced_ids(resources[logical_id].get("Properties", {}).get("Role")) if r in resources
        }
    for logical_id in sorted(custom | providers):
        changes.append(f"removed {resources[logical_id]['Type']} {logical_id} (Lambda-backed custom resource)")
        del resources[logical_id]
    for resource in resources.values():
        depends = resource.get("DependsOn")
        if depends:
            kept = [d for d in ([depends] if isinstance(depends, str) else depends) if d in resources]
            if kept:
                resource["DependsOn"] = kept
            else:
                del resource["DependsOn"]
    # bucket policy statements naming the removed provider role cannot resolve either
    removed = custom | providers
    for resource in resources.values():
        if resource["Type"] == "AWS::S3::BucketPolicy":
            statements = resource["Properties"]["PolicyDocument"]["Statement"]
            kept_statements = [s for s in statements if not (_referenced_ids(s.get("Principal")) & removed)]
            if len(kept_statements) != len(statements):
                resource["Properties"]["PolicyDocument"]["Statement"] = kept_statements
    return template, changes
