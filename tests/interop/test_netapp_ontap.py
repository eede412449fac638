"""NetApp's own Python client (netapp-ontap) against ontap-sim.

The client is an independent ONTAP implementation of paging, counting, finding and instance
reads; these tests check that it reads exactly the records the simulator holds.
"""

import os
import queue
import signal
import subprocess
import threading
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from netapp_ontap import config
from netapp_ontap.error import NetAppRestError
from netapp_ontap.host_connection import HostConnection
from netapp_ontap.resources import Cluster, Node, SecurityAssociation

REPO_ROOT = Path(__file__).resolve().parents[2]
SIM_BINARY = os.environ.get("ONTAP_SIM", str(REPO_ROOT / "target" / "debug" / "ontap-sim"))
USERNAME = "admin"
PASSWORD = "netapp1!"
NODES = 3
TUNNELS_PER_NODE = 20
TOTAL = NODES * TUNNELS_PER_NODE * 2
ONTAP_VERSION = "9.16.1"
CLUSTER_NAME = "interop-cluster"
STARTUP_TIMEOUT_SECONDS = 30
COUNTERS = ("bytes", "packets")


@dataclass
class Simulator:
    url: str
    host: str
    port: int
    cert: Path

    def control(self, method, path, body=None):
        response = requests.request(
            method,
            self.url + path,
            auth=(USERNAME, PASSWORD),
            verify=str(self.cert),
            json=body,
            timeout=10,
        )
        response.raise_for_status()
        return response.json() if response.content else None

    def records(self):
        return {record["uuid"]: record for record in self.control("GET", "/_sim/security-associations")}

    def requests_served(self):
        return self.control("GET", "/_sim/stats")["requests"]

    def add_fault(self, fault):
        self.control("POST", "/_sim/faults", fault)


def _first_line(stream, timeout):
    lines = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        return ""


@pytest.fixture(scope="session", autouse=True)
def trust_only_the_given_certificate():
    # requests lets these variables override a session's `verify`, so HostConnection(verify=...)
    # would silently use the system bundle instead of the simulator's certificate.
    saved = {name: os.environ.pop(name) for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE") if name in os.environ}
    yield
    os.environ.update(saved)


@pytest.fixture(scope="session")
def simulator(tmp_path_factory):
    cert = tmp_path_factory.mktemp("ontap-sim") / "ontap-sim.pem"
    process = subprocess.Popen(
        [
            SIM_BINARY,
            "--listen", "127.0.0.1:0",
            "--cert-out", str(cert),
            "--generate", f"{NODES}:{TUNNELS_PER_NODE}",
            "--ontap-version", ONTAP_VERSION,
            "--cluster-name", CLUSTER_NAME,
            "--username", USERNAME,
        ],
        env={**os.environ, "ONTAP_SIM_PASSWORD": PASSWORD},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = _first_line(process.stdout, STARTUP_TIMEOUT_SECONDS)
        assert line.startswith("listening on "), f"unexpected first line {line!r}"
        url = line.removeprefix("listening on ").strip()
        parts = urllib.parse.urlsplit(url)
        yield Simulator(url=url, host=parts.hostname, port=parts.port, cert=cert)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            assert process.wait(timeout=10) == 0, "ontap-sim did not exit cleanly on SIGTERM"
        finally:
            if process.poll() is None:
                process.kill()


@pytest.fixture
def connection(simulator):
    # HostConnection builds "scheme://host:port" itself: the port goes in `port`, not in `host`.
    connection = HostConnection(
        simulator.host,
        username=USERNAME,
        password=PASSWORD,
        verify=str(simulator.cert),
        port=simulator.port,
    )
    previous = config.CONNECTION
    config.CONNECTION = connection
    yield connection
    config.CONNECTION = previous


@pytest.fixture(autouse=True)
def no_faults(simulator):
    simulator.control("DELETE", "/_sim/faults")
    yield
    simulator.control("DELETE", "/_sim/faults")


def without_links(value):
    if isinstance(value, dict):
        return {key: without_links(item) for key, item in value.items() if key != "_links"}
    if isinstance(value, list):
        return [without_links(item) for item in value]
    return value


def comparable(record):
    """The record without links and without the traffic counters, which grow on every read."""
    record = without_links(record)
    for direction in ("inbound", "outbound"):
        for counter in COUNTERS:
            record.get("ipsec", {}).get(direction, {}).pop(counter, None)
    return record


def assert_same_record(served, held):
    assert comparable(served) == comparable(held)
    if held.get("type") == "ipsec":
        for direction in ("inbound", "outbound"):
            for counter in COUNTERS:
                assert served["ipsec"][direction][counter] >= held["ipsec"][direction][counter]


def test_get_collection_reads_every_record_across_pages(simulator, connection):
    held = simulator.records()
    before = simulator.requests_served()
    served = [sa.to_dict() for sa in SecurityAssociation.get_collection(fields="*", max_records=25)]
    pages = simulator.requests_served() - before
    assert len(served) == TOTAL
    assert pages == -(-TOTAL // 25), "one request per page of 25"
    assert [record["uuid"] for record in served] == sorted(held)
    for record in served:
        assert_same_record(record, held[record["uuid"]])


def test_get_collection_with_filters_and_field_list(simulator, connection):
    held = simulator.records()
    served = list(
        SecurityAssociation.get_collection(
            type="ipsec", fields="node.name,ipsec.state,remote_address", max_records=7
        )
    )
    expected = sorted(uuid for uuid, record in held.items() if record["type"] == "ipsec")
    assert [sa.uuid for sa in served] == expected
    for sa in served:
        assert sa.type == "ipsec", "the filter field is echoed"
        assert sa.ipsec.state == "installed"
        assert sa.node.name == held[sa.uuid]["node"]["name"]
        assert sa.remote_address == held[sa.uuid]["remote_address"]
        assert not hasattr(sa, "policy_name"), "fields not asked for are not sent"


def test_count_collection_with_and_without_filters(simulator, connection):
    held = list(simulator.records().values())
    assert SecurityAssociation.count_collection() == TOTAL
    assert SecurityAssociation.count_collection(type="ike") == TOTAL // 2
    assert SecurityAssociation.count_collection(**{"node.name": "cluster1-02"}) == TUNNELS_PER_NODE * 2
    assert SecurityAssociation.count_collection(
        type="ipsec", **{"node.name": "cluster1-01|cluster1-03"}
    ) == TUNNELS_PER_NODE * 2
    assert SecurityAssociation.count_collection(scope="cluster") == sum(
        1 for record in held if record["scope"] == "cluster"
    )
    assert SecurityAssociation.count_collection(**{"svm.name": "null"}) == sum(
        1 for record in held if "svm" not in record
    )
    assert SecurityAssociation.count_collection(remote_address="fd20:*") == sum(
        1 for record in held if ":" in record["remote_address"]
    )
    assert SecurityAssociation.count_collection(type="nothing") == 0


def test_find_returns_the_one_matching_record(simulator, connection):
    held = simulator.records()
    uuid = sorted(held)[len(held) // 2]
    found = SecurityAssociation.find(uuid=uuid)
    assert found is not None
    assert_same_record(found.to_dict(), held[uuid])
    ike = next(record for record in held.values() if record["type"] == "ike")
    by_address = SecurityAssociation.find(type="ike", remote_address=ike["remote_address"])
    assert by_address.uuid == ike["uuid"]
    assert SecurityAssociation.find(policy_name="no-such-policy") is None


def test_find_with_several_matches_raises(simulator, connection):
    with pytest.raises(NetAppRestError):
        SecurityAssociation.find(type="ike")


def test_instance_get_fetches_the_bare_record(simulator, connection):
    held = simulator.records()
    for uuid in sorted(held)[:4]:
        sa = SecurityAssociation(uuid=uuid)
        response = sa.get()
        assert response.http_response.status_code == 200
        assert_same_record(sa.to_dict(), held[uuid])


def test_instance_get_of_a_missing_record_raises_not_found(simulator, connection):
    with pytest.raises(NetAppRestError) as raised:
        SecurityAssociation(uuid="00000000-0000-4000-8000-000000000000").get()
    assert raised.value.http_err_response.http_response.status_code == 404
    assert raised.value.http_err_response.http_response.json()["error"]["code"] == "4"


def test_counters_grow_between_reads(simulator, connection):
    ipsec = next(uuid for uuid, record in sorted(simulator.records().items()) if record["type"] == "ipsec")
    first = SecurityAssociation(uuid=ipsec)
    first.get()
    second = SecurityAssociation(uuid=ipsec)
    second.get()
    assert second.ipsec.inbound.bytes > first.ipsec.inbound.bytes
    assert second.ipsec.outbound.packets > first.ipsec.outbound.packets


def test_short_and_empty_pages_are_followed_to_the_end(simulator, connection):
    held = simulator.records()
    simulator.add_fault({"kind": "short_pages", "records": 3})
    simulator.add_fault({"kind": "empty_pages", "skip": 1, "count": 2})
    served = [sa.uuid for sa in SecurityAssociation.get_collection(max_records=25)]
    assert served == sorted(held)


def test_cluster_and_nodes_match_the_simulator(simulator, connection):
    cluster = Cluster()
    cluster.get(fields="version,name,uuid")
    assert cluster.name == CLUSTER_NAME
    assert cluster.version.full.startswith(f"NetApp Release {ONTAP_VERSION}: ")
    assert (cluster.version.generation, cluster.version.major, cluster.version.minor) == (9, 16, 1)
    names = [node.name for node in Node.get_collection(fields="name,state", order_by="name")]
    assert names == [f"cluster1-{number:02}" for number in range(1, NODES + 1)]


def test_wrong_password_is_rejected_with_401(simulator):
    wrong = HostConnection(
        simulator.host,
        username=USERNAME,
        password="wrong",
        verify=str(simulator.cert),
        port=simulator.port,
    )
    with pytest.raises(NetAppRestError) as raised:
        SecurityAssociation.count_collection(connection=wrong)
    response = raised.value.http_err_response.http_response
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "User is not authorized."


def test_server_errors_surface_as_netapp_rest_errors(simulator, connection):
    simulator.add_fault({"kind": "error", "status": 500, "code": "66257118", "message": "IPsec is not ready.", "count": 1})
    with pytest.raises(NetAppRestError) as raised:
        list(SecurityAssociation.get_collection(max_records=10))
    assert raised.value.http_err_response.http_response.json()["error"]["code"] == "66257118"
