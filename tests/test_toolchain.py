"""The locked botocore and moto still understand each other.

botocore changes a service's wire protocol from time to time (1.44.18 moved Athena from JSON to rest-json);
moto answers a protocol it does not know with 404 "Not yet implemented", and the local sandbox then fails far
from the cause. One basic call per service the tests and `make local` lean on, against moto both in process
(``mock_aws``, as the unit tests use it) and as a server on localhost (as `make local` uses it), so a drifted
pair fails here with both versions named.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib import metadata
from typing import Any

import boto3
import pytest
from botocore.exceptions import BotoCoreError, ClientError
from moto import mock_aws

REGION = "us-east-1"
#: service -> (a read-only call, the key its answer must carry)
CALLS: dict[str, tuple[Callable[[Any], dict[str, Any]], str]] = {
    "athena": (lambda client: client.list_work_groups(), "WorkGroups"),
    "glue": (lambda client: client.get_databases(), "DatabaseList"),
    "sagemaker": (lambda client: client.list_endpoints(), "Endpoints"),
    "kinesis": (lambda client: client.list_streams(), "StreamNames"),
    "cloudwatch": (lambda client: client.describe_alarms(), "MetricAlarms"),
    "firehose": (lambda client: client.list_delivery_streams(), "DeliveryStreamNames"),
    "stepfunctions": (lambda client: client.list_state_machines(), "stateMachines"),
}


def _versions() -> str:
    return f"botocore {metadata.version('botocore')} and moto {metadata.version('moto')}"


@pytest.fixture(params=["in-process", "server"])
def endpoint_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    if request.param == "in-process":
        with mock_aws():
            yield None
        return
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="localhost", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.mark.parametrize("service", sorted(CALLS))
def test_moto_answers_the_locked_botocore(service: str, endpoint_url: str | None) -> None:
    call, key = CALLS[service]
    client = boto3.client(
        service,
        region_name=REGION,
        endpoint_url=endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    try:
        answer = call(client)
    except (ClientError, BotoCoreError) as error:
        protocol = client.meta.service_model.protocol
        pytest.fail(
            f"{_versions()} disagree on {service} (botocore speaks {protocol}): {error}. "
            "Keep botocore on a release moto understands in requirements.txt, or move moto, then `make lock`."
        )
    assert key in answer, f"{service}: {_versions()}: the answer has no {key!r}: {sorted(answer)}"
