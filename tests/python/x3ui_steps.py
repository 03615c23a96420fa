"""What an x3ui user does, step by step, against a running xfleet.

x3ui is the typed client generated from 3x-ui v3's OpenAPI document: every answer is parsed
into its models, so a field v3 always sends and xfleet left out fails the step with the
SDK's own error (`KeyError: 'disableFlow'`).

Usage: x3ui_steps.py BASE_URL cookie USERNAME PASSWORD PORT PREFIX
       x3ui_steps.py BASE_URL bearer TOKEN - PORT PREFIX

Prints one JSON object per step: {"step": name, "ok": true, ...values} or
{"step": name, "ok": false, "error": "..."}. Later steps still run after a failure.
"""

import json
import sys
import traceback
from datetime import timedelta

from x3ui import Panel, X3uiError
from x3ui._generated.api.clients import post_panel_api_clients_last_online
from x3ui._generated.api.inbounds import (
    post_panel_api_inbounds_add,
    post_panel_api_inbounds_del_id,
)
from x3ui._generated.models.inbounds_add_request import InboundsAddRequest
from x3ui.panel import _unwrap

base_url, mode, secret, password, port, prefix = sys.argv[1:7]
port = int(port)


def emit(step, ok, **values):
    print(json.dumps({"step": step, "ok": ok, **values}, default=str), flush=True)


def step(name):
    """Runs the decorated function at once; its dict is printed with the step."""

    def run(fn):
        try:
            emit(name, True, **(fn() or {}))
        except Exception as e:  # every failure is reported, with the SDK's words
            emit(name, False, error=f"{type(e).__name__}: {e}", trace=traceback.format_exc())
        return fn

    return run


if mode == "cookie":
    panel = Panel(base_url, timeout=60)
else:
    panel = Panel(base_url, token=secret, timeout=60)
state = {}
alice, bob = f"{prefix}-alice", f"{prefix}-bob"


@step("login")
def _():
    if mode == "cookie":
        panel.login(secret, password)
    return {"mode": mode}


@step("server.status")
def _():
    status = panel.server.status()
    return {"xray_state": status.xray.state, "mem_total": status.mem.total}


@step("inbounds.add")
def _():
    body = InboundsAddRequest.from_dict(
        {
            "remark": f"{prefix} ws",
            "enable": True,
            "listen": "",
            "port": port,
            "protocol": "vless",
            "expiryTime": 0,
            "total": 0,
            "settings": {"clients": [], "decryption": "none", "fallbacks": []},
            "streamSettings": {
                "network": "ws",
                "security": "none",
                "wsSettings": {"path": f"/{prefix}"},
            },
            "sniffing": {"enabled": True, "destOverride": ["http", "tls"]},
        }
    )
    added = _unwrap(
        post_panel_api_inbounds_add.sync(client=panel.raw, body=body), "inbounds.add"
    )
    state["inbound"] = added["id"]
    return {"id": added["id"], "port": added["port"]}


def mine():
    """Our inbound as the typed list has it."""
    return next(i for i in panel.inbounds.list() if i.id == state["inbound"])


@step("inbounds.list")
def _():
    i = mine()
    return {
        "port": i.port,
        "enable": i.enable,
        "subSortIndex": i.sub_sort_index,
        "shareAddrStrategy": i.share_addr_strategy.value,
        "trafficReset": i.traffic_reset.value,
        "trafficResetDay": i.traffic_reset_day,
        "disableFlow": i.disable_flow,
    }


@step("inbounds.get")
def _():
    got = panel.inbounds.get(state["inbound"])
    return {"port": got["port"], "remark": got["remark"], "tag": got["tag"]}


@step("inbounds.update")
def _():
    # A read-modify-write, as x3ui users do it: the whole inbound, v3 fields and all.
    current = panel.inbounds.get(state["inbound"])
    current["remark"] = f"{prefix} renamed"
    reply = panel.raw.get_httpx_client().post(
        f"/panel/api/inbounds/update/{state['inbound']}", json=current
    )
    body = reply.json()
    if not body.get("success"):
        raise X3uiError(body.get("msg", ""), "inbounds.update")
    return {"remark": panel.inbounds.get(state["inbound"])["remark"]}


@step("inbounds.setEnable")
def _():
    panel.inbounds.set_enable(state["inbound"], False)
    off = mine().enable
    panel.inbounds.set_enable(state["inbound"], True)
    return {"off": off, "on": mine().enable}


@step("clients.add")
def _():
    panel.clients.add(
        alice,
        [state["inbound"]],
        total_gb=5,
        expires=timedelta(days=30),
        limit_ip=2,
        tg_id=42,
    )
    panel.clients.add(bob, [state["inbound"]])
    return {}


@step("clients.list")
def _():
    rows = {c.email: c for c in panel.clients.list()}
    a = rows[alice]
    return {
        "emails": sorted(e for e in rows if e.startswith(prefix)),
        "inboundIds": a.inbound_ids,
        "totalGB": a.total_gb,
    }


@step("clients.get")
def _():
    detail = panel.clients.get(alice)
    c = detail.client
    state["uuid"] = c.uuid
    return {
        "email": c.email,
        "totalGB": c.total_gb,
        "limitIp": c.limit_ip,
        "tgId": c.tg_id,
        "uuid": c.uuid,
        "inboundIds": detail.inbound_ids,
        "enable": c.enable,
    }


@step("clients.update")
def _():
    panel.clients.update(alice, comment="vip", limit_ip=3)
    c = panel.clients.get(alice).client
    return {"comment": c.comment, "limitIp": c.limit_ip, "uuid": c.uuid}


@step("clients.traffic")
def _():
    t = panel.clients.traffic(alice)
    return {"email": t.email, "up": t.up, "down": t.down, "total": t.total, "enable": t.enable}


@step("clients.links")
def _():
    links = panel.clients.links(alice)
    return {"count": len(links), "first": links[0] if links else ""}


@step("clients.bulkDisable")
def _():
    result = panel.clients.bulk_disable([alice, bob])
    stats = {s.email: s.enable for s in mine().client_stats}
    return {
        "changed": result.changed,
        "enable": panel.clients.get(alice).client.enable,
        "clientStats": stats.get(alice),
    }


@step("clients.bulkEnable")
def _():
    result = panel.clients.bulk_enable([alice, bob])
    return {"changed": result.changed, "enable": panel.clients.get(alice).client.enable}


@step("clients.bulkResetTraffic")
def _():
    return {"affected": panel.clients.bulk_reset_traffic([alice, bob]).affected}


@step("clients.resetTraffic")
def _():
    panel.clients.reset_traffic(alice)
    return {}


@step("clients.ips")
def _():
    return {"ips": panel.clients.ips(alice)}


@step("clients.onlines")
def _():
    return {"online": panel.clients.online()}


@step("clients.lastOnline")
def _():
    seen = _unwrap(
        post_panel_api_clients_last_online.sync(client=panel.raw), "clients.lastOnline"
    )
    return {"lastOnline": seen.to_dict()}


@step("inbounds.resetTraffic")
def _():
    panel.inbounds.reset_traffic(state["inbound"])
    return {"up": mine().up}


@step("clients.delete")
def _():
    panel.clients.delete(bob)
    return {"gone": bob not in [c.email for c in panel.clients.list()]}


@step("inbounds.delete")
def _():
    _unwrap(
        post_panel_api_inbounds_del_id.sync(state["inbound"], client=panel.raw),
        "inbounds.del",
    )
    left = [i.id for i in panel.inbounds.list()]
    return {"listed": state["inbound"] in left}


if mode == "cookie":

    @step("logout")
    def _():
        panel.logout()
        return {}
