"""What py3xui's users do, step by step, against a running controller.

Usage: py3xui_steps.py URL USERNAME PASSWORD PORT BACKUP_PATH

Prints one JSON object per step: {"step": name, "ok": true, ...what it saw} or
{"step": name, "ok": false, "error": text}. A failed step does not stop the ones after it.
"""

import json
import sys
import traceback
import uuid

from py3xui import Api, Client, Inbound
from py3xui.inbound import Settings, Sniffing, StreamSettings

url, username, password, port, backup_path = sys.argv[1:6]
port = int(port)
state = {}


def step(name):
    def run(fn):
        try:
            seen = fn() or {}
            print(json.dumps({"step": name, "ok": True, **seen}), flush=True)
        except Exception as e:  # every failure is reported, with the SDK's own words
            print(
                json.dumps(
                    {
                        "step": name,
                        "ok": False,
                        "error": f"{type(e).__name__}: {e}",
                        "trace": traceback.format_exc(limit=3),
                    }
                ),
                flush=True,
            )
        return fn

    return run


api = Api(url, username, password, use_tls_verify=False)


@step("login")
def _():
    api.login()
    return {"cookie": api.cookie_name}


@step("inbound.add")
def _():
    inbound = Inbound(
        enable=True,
        port=port,
        protocol="vless",
        settings=Settings(),
        stream_settings=StreamSettings(
            security="none", network="tcp", tcp_settings={"header": {"type": "none"}}
        ),
        sniffing=Sniffing(enabled=False),
        remark="py3xui",
    )
    api.inbound.add(inbound)


@step("inbound.list")
def _():
    inbounds = api.inbound.get_list()
    mine = [i for i in inbounds if i.remark == "py3xui"]
    state["inbound_id"] = mine[0].id
    return {"count": len(inbounds), "id": mine[0].id, "port": mine[0].port}


@step("inbound.get")
def _():
    inbound = api.inbound.get_by_id(state["inbound_id"])
    return {"port": inbound.port, "protocol": inbound.protocol, "remark": inbound.remark}


@step("inbound.update")
def _():
    inbound = api.inbound.get_by_id(state["inbound_id"])
    inbound.remark = "py3xui-renamed"
    api.inbound.update(state["inbound_id"], inbound)
    return {"remark": api.inbound.get_by_id(state["inbound_id"]).remark}


@step("client.add")
def _():
    state["uuid"] = str(uuid.uuid4())
    client = Client(
        id=state["uuid"], email="py-alice", enable=True, total_gb=10 << 30, limit_ip=2
    )
    api.client.add(state["inbound_id"], [client])


@step("client.get")
def _():
    client = api.client.get_by_email("py-alice")
    return {
        "email": client.email,
        "id": client.id,
        "inbound_id": client.inbound_id,
        "total_gb": client.total_gb,
        "enable": client.enable,
    }


@step("client.update")
def _():
    client = api.client.get_by_email("py-alice")
    client.total_gb = 20 << 30
    client.id = state["uuid"]
    api.client.update(state["uuid"], client)
    return {"total_gb": api.client.get_by_email("py-alice").total_gb}


@step("client.traffic_by_id")
def _():
    clients = api.client.get_traffic_by_id(state["uuid"])
    return {"emails": [c.email for c in clients], "up": [c.up for c in clients]}


@step("client.online")
def _():
    return {"online": api.client.online()}


@step("client.ips")
def _():
    ips = api.client.get_ips("py-alice")
    api.client.reset_ips("py-alice")
    return {"ips": ips}


@step("client.reset_traffic")
def _():
    api.client.reset_stats(state["inbound_id"], "py-alice")


@step("inbound.reset_client_traffic")
def _():
    api.inbound.reset_client_stats(state["inbound_id"])


@step("inbound.reset_all")
def _():
    api.inbound.reset_stats()


@step("server.status")
def _():
    status = api.server.get_status()
    return {"xray_state": status.xray.state, "xray_version": status.xray.version}


@step("server.restart_core")
def _():
    # py3xui has no method for it; scripts post with the SDK's own session.
    endpoint = api.server._url("panel/api/server/restartXrayService")
    response = api.server._post(endpoint, {"Accept": "application/json"}, {})
    return {"msg": response.json().get("msg")}


@step("server.backup")
def _():
    api.server.get_db(backup_path)
    with open(backup_path, "rb") as f:
        head = f.read(16)
    return {"sqlite": head == b"SQLite format 3\x00"}


@step("database.export")
def _():
    api.database.export()


@step("client.delete")
def _():
    api.client.delete(state["inbound_id"], state["uuid"])
    return {"gone": api.client.get_by_email("py-alice") is None}


@step("inbound.delete")
def _():
    api.inbound.delete(state["inbound_id"])
    return {"left": [i.id for i in api.inbound.get_list() if i.id == state["inbound_id"]]}
