"""Declared calls of SageMaker: what training, tuning, batch transform, hosting and Model Monitor jobs do
with their execution role. The jobs come from the templates: the workflow's Task states (as one execution
names them), the endpoint the serving stack creates, and monitoring job definitions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tools.iam import asl
from tools.iam.calls import Call
from tools.iam.deployment import Deployment
from tools.iam.derive import Emitter, key_arn, list_context, split_s3

MONITOR_NAMESPACE = "aws/sagemaker/Endpoints/data-metrics"


@dataclass
class Job:
    """One SageMaker job (or endpoint) as it runs under its execution role."""

    kind: str  # the log group and metric namespace component: TrainingJobs, TransformJobs, ProcessingJobs, Endpoints
    name: str
    role: str
    why: str
    reads: list[str] = field(default_factory=list)
    read_keys: dict[str, str] = field(default_factory=dict)  # URI -> the key its objects were written with
    writes: list[str] = field(default_factory=list)
    output_key: str | None = None
    volume_key: str | None = None
    subnets: list[str] = field(default_factory=list)
    security_groups: list[str] = field(default_factory=list)
    image: str = ""  # one image, or several separated by spaces (an inference pipeline's containers)
    lists: list[str] = field(default_factory=list)  # input URIs SageMaker lists as a prefix even when they name a key
    monitoring: bool = True  # a ProcessingJobs job: Model Monitor's (its metrics namespace) or a workflow's own

    @property
    def namespace(self) -> str:
        if self.kind == "ProcessingJobs" and self.monitoring:
            return MONITOR_NAMESPACE
        return f"/aws/sagemaker/{self.kind}"


def _in_vpc(job: Job, config: dict[str, Any] | None) -> Job:
    """The job with the subnets and security groups of its VpcConfig."""
    job.subnets = list((config or {}).get("Subnets", []))
    job.security_groups = list((config or {}).get("SecurityGroupIds", []))
    return job


def containers(model: dict[str, Any]) -> list[dict[str, Any]]:
    """A model's containers: an inference pipeline's ``Containers`` in order, or its one ``PrimaryContainer``."""
    return list(model.get("Containers") or [model.get("PrimaryContainer", {})])


def _model_reads(model: dict[str, Any]) -> list[str]:
    return [c.get("ModelDataUrl", "") for c in containers(model)]


def _image(model: dict[str, Any]) -> str:
    """The images a model's containers run, space-separated (an image URI has no spaces)."""
    return " ".join(c["Image"] for c in containers(model) if c.get("Image"))


def serving_models(d: Deployment) -> list[dict[str, Any]]:
    """The models the stacks' endpoints serve as deployed (what a workflow finds when it looks the endpoint up)."""
    found = []
    for res in d.resources("AWS::SageMaker::Endpoint"):
        config = d.find("AWS::SageMaker::EndpointConfig", "EndpointConfigName", res.props["EndpointConfigName"])
        for variant in config.props.get("ProductionVariants", []) if config else []:
            model = d.find("AWS::SageMaker::Model", "ModelName", variant["ModelName"])
            if model is not None:
                found.append(model.props)
    return found


def _processing(p: dict[str, Any], why: str, d: Deployment) -> Job:
    """A workflow's processing job: its S3Prefix inputs are listed, then read; its outputs are written."""
    inputs = [i["S3Input"] for i in p.get("ProcessingInputs", []) if "S3Input" in i]
    output = p.get("ProcessingOutputConfig", {})
    cluster = p.get("ProcessingResources", {}).get("ClusterConfig", {})
    uris = [i.get("S3Uri", "") for i in inputs]
    job = Job(
        "ProcessingJobs",
        p.get("ProcessingJobName", ""),
        p["RoleArn"],
        why,
        reads=uris,
        writes=[f"{o['S3Output']['S3Uri'].rstrip('/')}/analysis.json" for o in output.get("Outputs", [])],
        output_key=key_arn(d, output.get("KmsKeyId")),
        volume_key=key_arn(d, cluster.get("VolumeKmsKeyId")),
        image=p.get("AppSpecification", {}).get("ImageUri", ""),
        lists=[i.get("S3Uri", "") for i in inputs if i.get("S3DataType") == "S3Prefix"],
        monitoring=False,
    )
    return _in_vpc(job, p.get("NetworkConfig", {}).get("VpcConfig"))


def _training(name: str, p: dict[str, Any], why: str, d: Deployment) -> Job:
    output = p.get("OutputDataConfig", {})
    job = Job(
        "TrainingJobs",
        name,
        p["RoleArn"],
        why,
        reads=[
            c["DataSource"]["S3DataSource"]["S3Uri"]
            for c in p.get("InputDataConfig", [])
            if "S3DataSource" in c["DataSource"]
        ],
        writes=[f"{output.get('S3OutputPath', '').rstrip('/')}/{name}/output/model.tar.gz"],
        output_key=key_arn(d, output.get("KmsKeyId")),
        volume_key=key_arn(d, p.get("ResourceConfig", {}).get("VolumeKmsKeyId")),
        image=p.get("AlgorithmSpecification", {}).get("TrainingImage", ""),
    )
    return _in_vpc(job, p.get("VpcConfig"))


class _Workflow:
    """The jobs one state machine's execution starts, and the models and endpoint configs it creates."""

    def __init__(self, d: Deployment, label: str, tasks: list[asl.Task]) -> None:
        self.d, self.label, self.jobs = d, label, list[Job]()
        self.models: dict[str, dict[str, Any]] = {}
        self.configs: dict[str, dict[str, Any]] = {}
        for task in tasks:
            self._task(task)

    def _task(self, task: asl.Task) -> None:
        service, api, _ = task.integration
        p, why = task.parameters, f"state {task.state} of {self.label}"
        if service != "sagemaker":
            return
        if api == "createModel":
            self.models[p.get("ModelName", "")] = p
        elif api == "createEndpointConfig":
            self.configs[p.get("EndpointConfigName", "")] = p
        elif api == "createTrainingJob":
            self.jobs.append(_training(p.get("TrainingJobName", ""), p, why, self.d))
        elif api == "createHyperParameterTuningJob":
            best = f"{p.get('HyperParameterTuningJobName')}-001-0a1b2c3d"
            self.jobs.append(_training(best, p.get("TrainingJobDefinition", {}), why, self.d))
        elif api == "createTransformJob":
            self._transform(p, why)
        elif api == "createProcessingJob":
            self.jobs.append(_processing(p, why, self.d))
        elif api == "updateEndpoint":
            self._endpoint(p, why)

    def _transform(self, p: dict[str, Any], why: str) -> None:
        """A transform of a model this run created, or (a name the run looks up at run time: the champion) of each
        model the stacks' endpoints serve as deployed."""
        name = p.get("ModelName")
        models = [self.models[name]] if name in self.models else serving_models(self.d)
        source = p["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
        out = p.get("TransformOutput", {})
        for model in models:
            job = Job(
                "TransformJobs",
                p.get("TransformJobName", ""),
                model.get("ExecutionRoleArn", ""),
                why,
                reads=[source, *_model_reads(model)],
                writes=[f"{out.get('S3OutputPath', '').rstrip('/')}/part-00000.jsonl.out"],
                output_key=key_arn(self.d, out.get("KmsKeyId")),
                volume_key=key_arn(self.d, p.get("TransformResources", {}).get("VolumeKmsKeyId")),
                image=_image(model),
            )
            self.jobs.append(_in_vpc(job, model.get("VpcConfig")))

    def _endpoint(self, p: dict[str, Any], why: str) -> None:
        config = self.configs.get(p.get("EndpointConfigName", ""), {})
        for variant in config.get("ProductionVariants", []):
            model = self.models.get(variant.get("ModelName", ""), {})
            self.jobs.append(_hosted(self.d, p["EndpointName"], model, config, why))


def _hosted(d: Deployment, endpoint: str, model: dict[str, Any], config: dict[str, Any], why: str) -> Job:
    """An endpoint serving ``model``: it reads the model data and writes data capture."""
    capture = config.get("DataCaptureConfig", {})
    writes = []
    if capture.get("EnableCapture", True) and capture.get("DestinationS3Uri"):
        writes.append(f"{capture['DestinationS3Uri'].rstrip('/')}/{endpoint}/AllTraffic/2026/12/01/00/capture.jsonl")
    job = Job(
        "Endpoints",
        endpoint,
        model.get("ExecutionRoleArn", ""),
        why,
        reads=_model_reads(model),
        writes=writes,
        output_key=key_arn(d, capture.get("KmsKeyId")),
        image=_image(model),
    )
    return _in_vpc(job, model.get("VpcConfig"))


def workflows(d: Deployment) -> Iterator[tuple[str, str, list[asl.Task]]]:
    """``(label, role ARN, tasks)`` of each state machine."""
    for res in d.resources("AWS::StepFunctions::StateMachine"):
        definition = res.props.get("DefinitionString") or json.dumps(res.props.get("Definition", {}))
        yield res.label, res.props["RoleArn"], asl.tasks(json.loads(definition), res.att("Arn"))


def _stack_endpoints(d: Deployment) -> Iterator[Job]:
    for res in d.resources("AWS::SageMaker::Endpoint"):
        config = d.find("AWS::SageMaker::EndpointConfig", "EndpointConfigName", res.props["EndpointConfigName"])
        for variant in config.props.get("ProductionVariants", []) if config else []:
            model = d.find("AWS::SageMaker::Model", "ModelName", variant["ModelName"])
            if model is not None and config is not None:
                yield _hosted(d, res.att("EndpointName"), model.props, config.props, f"endpoint {res.label}")


def _capture(d: Deployment, endpoint: str) -> tuple[str, str | None]:
    """The endpoint's capture prefix, and the key its config encrypts the capture with (whatever the bucket's)."""
    res = d.find("AWS::SageMaker::Endpoint", "EndpointName", endpoint)
    config = (
        d.find("AWS::SageMaker::EndpointConfig", "EndpointConfigName", res.props["EndpointConfigName"]) if res else None
    )
    capture = config.props.get("DataCaptureConfig", {}) if config else {}
    return f"{capture.get('DestinationS3Uri', '').rstrip('/')}/{endpoint}/", key_arn(d, capture.get("KmsKeyId"))


def _monitoring(d: Deployment) -> Iterator[Job]:
    for res in d.resources("AWS::SageMaker::DataQualityJobDefinition"):
        p = res.props
        baseline = p.get("DataQualityBaselineConfig", {})
        endpoint = p["DataQualityJobInput"]["EndpointInput"]["EndpointName"]
        reads = [baseline.get(k, {}).get("S3Uri", "") for k in ("ConstraintsResource", "StatisticsResource")]
        output = p.get("DataQualityJobOutputConfig", {})
        capture, capture_key = _capture(d, endpoint)
        job = Job(
            "ProcessingJobs",
            f"model-monitoring-202612010000-{str(res.ref).rsplit('/', 1)[-1][:20]}",
            p["RoleArn"],
            f"monitoring job {res.label}",
            reads=[u for u in reads if u] + [capture],
            read_keys={capture: capture_key} if capture_key else {},
            writes=[f"{o['S3Output']['S3Uri'].rstrip('/')}/report.json" for o in output.get("MonitoringOutputs", [])],
            output_key=key_arn(d, output.get("KmsKeyId")),
            volume_key=key_arn(d, p.get("JobResources", {}).get("ClusterConfig", {}).get("VolumeKmsKeyId")),
            image=p.get("DataQualityAppSpecification", {}).get("ImageUri", ""),
        )
        yield _in_vpc(job, p.get("NetworkConfig", {}).get("VpcConfig"))


def jobs(d: Deployment) -> list[Job]:
    found = [*_stack_endpoints(d), *_monitoring(d)]
    for label, _, tasks in workflows(d):
        found += _Workflow(d, label, tasks).jobs
    return [job for job in found if job.role]


def _endpoint_ids(d: Deployment, job: Job) -> tuple[str, ...]:
    return tuple(e.id for e in d.endpoints_for(job.subnets, "s3"))


# --- rows -----------------------------------------------------------------------------------------------------


def sagemaker_s3_reads(d: Deployment, e: Emitter) -> Iterator[Call]:
    for job in jobs(d):
        for uri in filter(None, job.reads):
            yield from e.s3_read(job.role, uri, job.why, endpoints=_endpoint_ids(d, job), kms=job.read_keys.get(uri))


def sagemaker_s3_prefix_lists(d: Deployment, e: Emitter) -> Iterator[Call]:
    """A processing job's S3Prefix input names a key prefix: SageMaker lists the keys under it, even when the URI
    is one object's key (a prefix URI's listing is already in ``sagemaker_s3_reads``)."""
    for job in jobs(d):
        for uri in filter(None, job.lists):
            name, key = split_s3(uri)
            if key and not key.endswith("/"):
                resource = d.env.s3(name)
                yield from e.call(
                    job.role, "s3:ListBucket", resource, job.why, list_context(key), _endpoint_ids(d, job)
                )


def sagemaker_s3_writes(d: Deployment, e: Emitter) -> Iterator[Call]:
    for job in jobs(d):
        for uri in job.writes:
            yield from e.s3_write(job.role, uri, job.why, kms=job.output_key, endpoints=_endpoint_ids(d, job))


def sagemaker_volume_key(d: Deployment, e: Emitter) -> Iterator[Call]:
    for job in jobs(d):
        if job.volume_key:
            context = {"kms:GrantIsForAWSResource": "true", "kms:ViaService": d.env.endpoint("sagemaker")}
            yield from e.call(job.role, "kms:CreateGrant", job.volume_key, job.why, context)


def sagemaker_output_key(d: Deployment, e: Emitter) -> Iterator[Call]:
    """A training or transform job whose output names a KMS key: its role must be allowed kms:Encrypt on it."""
    for job in jobs(d):
        if job.output_key and job.kind in ("TrainingJobs", "TransformJobs"):
            context = {"kms:ViaService": d.env.endpoint("sagemaker")}
            yield from e.call(job.role, "kms:Encrypt", job.output_key, job.why, context)


def sagemaker_network(d: Deployment, e: Emitter) -> Iterator[Call]:
    env = d.env
    for job in jobs(d):
        if not job.subnets:
            continue
        eni = env.arn("ec2", "network-interface/eni-0a1b2c3d4e5f60718")
        targets = [eni] + [env.arn("ec2", f"subnet/{s}") for s in job.subnets[:1]]
        targets += [env.arn("ec2", f"security-group/{g}") for g in job.security_groups]
        for target in targets:
            yield from e.call(job.role, "ec2:CreateNetworkInterface", target, job.why)
        actions = [
            "ec2:CreateNetworkInterfacePermission",
            "ec2:DeleteNetworkInterface",
            "ec2:DeleteNetworkInterfacePermission",
        ]
        yield from e.call(job.role, actions, eni, job.why)
        describe = [
            "ec2:DescribeNetworkInterfaces",
            "ec2:DescribeVpcs",
            "ec2:DescribeDhcpOptions",
            "ec2:DescribeSubnets",
            "ec2:DescribeSecurityGroups",
        ]
        yield from e.call(job.role, describe, "*", job.why)


def sagemaker_logs(d: Deployment, e: Emitter) -> Iterator[Call]:
    for job in jobs(d):
        if job.kind == "Endpoints":
            group, stream = f"/aws/sagemaker/Endpoints/{job.name}", "AllTraffic/i-0a1b2c3d4e5f60718"
        else:
            group, stream = f"/aws/sagemaker/{job.kind}", f"{job.name}/algo-1-1764547200"
        yield from e.logs(job.role, group, stream, job.why, create_group=True)
        yield from e.call(job.role, "logs:DescribeLogStreams", d.env.log_stream(group, ""), job.why)


def sagemaker_metrics(d: Deployment, e: Emitter) -> Iterator[Call]:
    for job in jobs(d):
        yield from e.call(job.role, "cloudwatch:PutMetricData", "*", job.why, {"cloudwatch:namespace": job.namespace})


def sagemaker_image_pull(d: Deployment, e: Emitter) -> Iterator[Call]:
    """Only for images in a registry of this account: SageMaker pulls its own built-in images."""
    for job in jobs(d):
        for image in job.image.split():
            registry, _, path = image.partition("/")
            if not registry.startswith(f"{d.env.account}.dkr.ecr."):
                continue
            repository = path.split(":")[0].split("@")[0]
            yield from e.call(job.role, "ecr:GetAuthorizationToken", "*", job.why)
            actions = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
            yield from e.call(job.role, actions, d.env.arn("ecr", f"repository/{repository}"), job.why)
