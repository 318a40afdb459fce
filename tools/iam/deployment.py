"""One resolved deploy of the app: its roles with their identity and trust policies, and the resource policies
on the other side of the calls (bucket, key and topic policies, Lambda permissions, VPC endpoint policies)."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tools.iam import managed
from tools.iam.arns import Environment
from tools.iam.cfn import Resolver


class MissingPolicyError(LookupError):
    """A role points to a managed policy whose document is neither in the templates nor embedded."""


@dataclass
class Policy:
    """A policy document and where it comes from. ``kind``: identity, resource or endpoint."""

    id: str
    kind: str
    label: str
    document: dict[str, Any]

    def statements(self) -> list[dict[str, Any]]:
        statements = self.document.get("Statement", [])
        return [statements] if isinstance(statements, dict) else list(statements)

    def without(self, index: int) -> Policy:
        """This policy with its statement ``index`` (1-based, as the evaluator counts) deleted."""
        document = copy.deepcopy(self.document)
        document["Statement"] = [s for i, s in enumerate(self.statements(), start=1) if i != index]
        return Policy(f"{self.id}~{index}", self.kind, self.label, document)


@dataclass
class Role:
    stack: str
    logical_id: str
    name: str
    arn: str
    services: tuple[str, ...]
    trust: Policy
    policies: list[Policy] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.stack}/{self.logical_id}"


@dataclass
class Resource:
    stack: str
    logical_id: str
    type: str
    props: dict[str, Any]
    deployment: Deployment

    @property
    def label(self) -> str:
        return f"{self.stack}/{self.logical_id}"

    def att(self, attribute: str) -> Any:
        return self.deployment.resolver.attribute(self.stack, self.logical_id, attribute)

    @property
    def ref(self) -> Any:
        return self.att("Ref")


@dataclass
class EndpointPolicy:
    """A VPC endpoint with its policy and the subnets whose route tables send traffic through it."""

    id: str
    vpc: str
    service: str
    subnets: frozenset[str]
    policy: Policy


class Deployment:
    """Roles, resources and policies of one synthesized app, every token resolved in ``env``."""

    def __init__(self, templates: Mapping[str, Mapping[str, Any]], env: Environment | None = None, name: str = ""):
        self.name = name
        self.resolver = Resolver(templates, env)
        self.env = self.resolver.env
        self._resources: dict[str, list[Resource]] = {}
        for stack, logical_id, raw in self.resolver.resources():
            props = self.resolver.properties(stack, logical_id)
            self._resources.setdefault(raw["Type"], []).append(Resource(stack, logical_id, raw["Type"], props, self))
        self.roles: dict[str, Role] = {}
        self._resource_policies: dict[str, Policy] = {}
        self._managed_keys: dict[str, str] = {}
        self._collect_roles()
        self._collect_resource_policies()
        self.endpoints = list(self._collect_endpoints())

    # --- lookups ----------------------------------------------------------------------------------------

    def resources(self, resource_type: str) -> list[Resource]:
        return list(self._resources.get(resource_type, []))

    def find(self, resource_type: str, attribute: str, value: Any) -> Resource | None:
        """The resource of a type whose attribute (``Ref``, ``Arn``, ...) equals ``value``."""
        for resource in self.resources(resource_type):
            try:
                if resource.att(attribute) == value:
                    return resource
            except KeyError:
                continue
        return None

    def role(self, reference: str) -> Role | None:
        """A role by ARN, name, logical id or ``stack/logical id``."""
        if reference in self.roles:
            return self.roles[reference]
        for role in self.roles.values():
            if reference in (role.name, role.logical_id, role.label):
                return role
        return None

    def resource_policy(self, arn: str) -> Policy | None:
        """The resource-based policy governing ``arn`` (an object is governed by its bucket's policy)."""
        if arn.startswith(f"arn:{self.env.partition}:s3:::"):
            arn = arn.split("/", 1)[0]
        if ":function:" in arn:
            arn = ":".join(arn.split(":")[:7])
        return self._resource_policies.get(arn)

    def aws_managed_key(self, service: str) -> str:
        """The ARN of the account's AWS managed key for ``service`` (alias/aws/<service>), with its key policy."""
        if service not in self._managed_keys:
            arn = self.env.arn("kms", f"key/aws-managed-{service}")
            document = managed.aws_managed_key_policy(self.env, service)
            self._resource_policies[arn] = Policy(arn, "resource", f"AWS managed key aws/{service}", document)
            self._managed_keys[service] = arn
        return self._managed_keys[service]

    def endpoints_for(self, subnets: list[str], service: str) -> list[EndpointPolicy]:
        """The gateway endpoints (and their policies) that traffic from these subnets to ``service`` uses."""
        return [e for e in self.endpoints if e.service == service and e.subnets & set(subnets)]

    def policies(self) -> Iterator[Policy]:
        """Every distinct policy document the deploy has, identity ones first."""
        seen: set[str] = set()
        for role in self.roles.values():
            for policy in [*role.policies, role.trust]:
                if policy.id not in seen:
                    seen.add(policy.id)
                    yield policy
        for policy in [*self._resource_policies.values(), *(e.policy for e in self.endpoints)]:
            if policy.id not in seen:
                seen.add(policy.id)
                yield policy

    # --- collection -------------------------------------------------------------------------------------

    def _collect_roles(self) -> None:
        customer_managed = {r.ref: r for r in self.resources("AWS::IAM::ManagedPolicy")}
        for res in self.resources("AWS::IAM::Role"):
            trust_document = res.props.get("AssumeRolePolicyDocument", {})
            arn = res.att("Arn")
            trust = Policy(f"{res.label}#trust", "resource", f"{res.label} trust policy", trust_document)
            role = Role(res.stack, res.logical_id, res.ref, arn, _services(trust_document), trust)
            for inline in res.props.get("Policies", []):
                label = f"{res.label}/{inline['PolicyName']}"
                role.policies.append(Policy(label, "identity", label, inline["PolicyDocument"]))
            for policy_arn in res.props.get("ManagedPolicyArns", []):
                role.policies.append(self._managed_policy(policy_arn, customer_managed))
            self.roles[arn] = role
        for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            for res in self.resources(kind):
                policy = Policy(res.label, "identity", res.label, res.props["PolicyDocument"])
                for name in res.props.get("Roles", []):
                    attached = self.role(name)
                    if attached is not None and policy.id not in {p.id for p in attached.policies}:
                        attached.policies.append(policy)

    def _managed_policy(self, arn: str, customer_managed: dict[Any, Resource]) -> Policy:
        if arn in customer_managed:
            res = customer_managed[arn]
            return Policy(res.label, "identity", res.label, res.props["PolicyDocument"])
        prefix = f"arn:{self.env.partition}:iam::aws:policy/"
        embedded = managed.AWS_MANAGED_POLICIES.get(arn.removeprefix(prefix)) if arn.startswith(prefix) else None
        if embedded is None:
            raise MissingPolicyError(f"{arn}: embed its document in tools/iam/managed.py (with its source and date)")
        return Policy(f"aws-managed/{embedded.name}", "identity", f"AWS managed {embedded.name}", embedded.document)

    def _collect_resource_policies(self) -> None:
        add = self._resource_policies.__setitem__
        for res in self.resources("AWS::S3::BucketPolicy"):
            add(self.env.s3(res.props["Bucket"]), Policy(res.label, "resource", res.label, res.props["PolicyDocument"]))
        for res in self.resources("AWS::KMS::Key"):
            document = res.props.get("KeyPolicy") or managed.default_key_policy(self.env)
            add(res.att("Arn"), Policy(res.label, "resource", f"{res.label} key policy", document))
        for res in self.resources("AWS::SNS::Topic"):
            document = managed.sns_default_topic_policy(self.env, res.ref)
            add(res.ref, Policy(f"{res.label}#default", "resource", f"{res.label} default topic policy", document))
        for res in self.resources("AWS::SNS::TopicPolicy"):
            for topic in res.props["Topics"]:
                add(topic, Policy(res.label, "resource", res.label, res.props["PolicyDocument"]))
        queues = {queue.ref: queue.att("Arn") for queue in self.resources("AWS::SQS::Queue")}
        for res in self.resources("AWS::SQS::QueuePolicy"):  # names its queues by URL (Ref); policies apply to ARNs
            for queue in res.props["Queues"]:
                add(queues.get(queue, queue), Policy(res.label, "resource", res.label, res.props["PolicyDocument"]))
        for role in self.roles.values():
            add(role.arn, role.trust)
        for arn, policy in self._lambda_permissions().items():
            add(arn, policy)

    def _lambda_permissions(self) -> dict[str, Policy]:
        """Each function's resource policy, as Lambda builds it from its AWS::Lambda::Permission resources."""
        policies: dict[str, Policy] = {}
        for res in self.resources("AWS::Lambda::Permission"):
            function = self._function_arn(str(res.props["FunctionName"]))
            statement = _permission_statement(res, function)
            policy = policies.setdefault(
                function,
                Policy(f"{function}#policy", "resource", f"Lambda permissions of {function.split(':')[-1]}", {}),
            )
            policy.document.setdefault("Version", "2012-10-17")
            policy.document.setdefault("Statement", []).append(statement)
        return policies

    def _function_arn(self, name_or_arn: str) -> str:
        if name_or_arn.startswith("arn:"):
            return ":".join(name_or_arn.split(":")[:7])
        return self.env.arn("lambda", f"function:{name_or_arn}")

    def _collect_endpoints(self) -> Iterator[EndpointPolicy]:
        route_tables: dict[str, set[str]] = {}
        for res in self.resources("AWS::EC2::SubnetRouteTableAssociation"):
            route_tables.setdefault(res.props["RouteTableId"], set()).add(res.props["SubnetId"])
        for res in self.resources("AWS::EC2::VPCEndpoint"):
            if res.props.get("VpcEndpointType", "Gateway") != "Gateway" or "PolicyDocument" not in res.props:
                continue
            subnets = frozenset(s for table in res.props.get("RouteTableIds", []) for s in route_tables.get(table, ()))
            service = str(res.props["ServiceName"]).rsplit(".", 1)[-1]
            document = _anyone_as_star(res.props["PolicyDocument"])
            policy = Policy(res.label, "endpoint", f"{res.label} endpoint policy", document)
            yield EndpointPolicy(res.ref, res.props["VpcId"], service, subnets, policy)


def _anyone_as_star(document: dict[str, Any]) -> dict[str, Any]:
    """``"Principal": {"AWS": "*"}`` written as ``"*"``: the two are equivalent
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html#principal-anonymous),
    and the simulator accepts only the second in an endpoint policy."""
    document = copy.deepcopy(document)
    for statement in document.get("Statement", []):
        if statement.get("Principal") == {"AWS": "*"}:
            statement["Principal"] = "*"
    return document


def _services(trust_document: Mapping[str, Any]) -> tuple[str, ...]:
    """The service principals a trust policy lets assume the role."""
    services: list[str] = []
    for statement in trust_document.get("Statement", []):
        principal = statement.get("Principal", {})
        service = principal.get("Service", []) if isinstance(principal, dict) else []
        services.extend([service] if isinstance(service, str) else service)
    return tuple(services)


def _permission_statement(res: Resource, function_arn: str) -> dict[str, Any]:
    """The statement Lambda adds for one AddPermission (https://docs.aws.amazon.com/lambda/latest/dg/access-control-resource-based.html)."""
    principal = str(res.props["Principal"])
    condition: dict[str, dict[str, str]] = {}
    if "SourceArn" in res.props:
        condition.setdefault("ArnLike", {})["AWS:SourceArn"] = res.props["SourceArn"]
    if "SourceAccount" in res.props:
        condition.setdefault("StringEquals", {})["AWS:SourceAccount"] = res.props["SourceAccount"]
    if "PrincipalOrgID" in res.props:
        condition.setdefault("StringEquals", {})["aws:PrincipalOrgID"] = res.props["PrincipalOrgID"]
    is_service = principal.endswith(".amazonaws.com") or principal.endswith(".amazonaws.com.cn")
    statement: dict[str, Any] = {
        "Sid": res.logical_id,
        "Effect": "Allow",
        "Principal": {"Service": principal} if is_service else {"AWS": principal},
        "Action": res.props["Action"],
        "Resource": function_arn,
    }
    if condition:
        statement["Condition"] = condition
    return statement
