"""Export offers, needs, contributions and attestations as ValueFlows JSON-LD and as CSV.

Mapping (https://www.valueflo.ws/):
- offer  -> ``vf:Proposal`` (purpose "offer") publishing a ``vf:Intent`` with the member as
  ``vf:provider``;
- need   -> ``vf:Proposal`` (purpose "request") publishing a ``vf:Intent`` with the member as
  ``vf:receiver``;
- contribution -> ``vf:EconomicEvent`` (action work / deliver-service / cite) with the
  contributor as ``vf:provider``, effort in minutes (``om2:minute-Time``), ``vf:inScopeOf``
  the project or community;
- attestation -> ``we:Attestation`` (ValueFlows has no term for it) pointing at the event.

Agents and records get URNs (``urn:we:member:<hex>``, ``urn:we:op:<hex>``); times are
ISO-8601 UTC computed with integer arithmetic. Quantities stay integers.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from ..state import State
from .listing_views import needs, offers
from .queries import attestations, contributions

CONTEXT = {
    "vf": "https://w3id.org/valueflows/ont/vf#",
    "om2": "http://www.ontology-of-units-of-measure.org/resource/om-2/",
    "dcterms": "http://purl.org/dc/terms/",
    "we": "urn:we:vocab#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso(ms: int) -> str:
    return (_EPOCH + timedelta(milliseconds=ms)).isoformat().replace("+00:00", "Z")


def member_urn(key: bytes) -> str:
    return f"urn:we:member:{key.hex()}"


def op_urn(op_id: bytes) -> str:
    return f"urn:we:op:{op_id.hex()}"


def _quantity(q: dict) -> dict:
    return {"om2:hasNumericalValue": q["amount"], "om2:hasUnit": q["unit"]}


def _proposal(view: dict, purpose: str, role: str) -> dict:
    intent = {
        "@id": op_urn(view["id"]) + "#intent",
        "@type": "vf:Intent",
        "vf:action": view["action"],
        role: {"@id": member_urn(view["author"])},
        "vf:resourceClassifiedAs": view["category"],
        "vf:resourceQuantity": _quantity(view["quantity"]),
        "vf:name": view["title"],
        "vf:note": view["description"],
        "we:tags": view["tags"],
    }
    if view["windows"]:
        intent["vf:hasBeginning"] = iso(min(w[0] for w in view["windows"]))
        intent["vf:hasEnd"] = iso(max(w[1] for w in view["windows"]))
    if view.get("geohash"):
        intent["we:geohash"] = view["geohash"]
        intent["we:radiusMetres"] = view["radius_m"]
    return {
        "@id": op_urn(view["id"]),
        "@type": "vf:Proposal",
        "vf:purpose": purpose,
        "vf:name": view["title"],
        "vf:created": iso(view["ts"]),
        "vf:hasEnd": iso(view["expires"]),
        "vf:unitBased": False,
        "vf:eligibleLocation": "remote" if view["remote"] else view.get("geohash"),
        "we:status": view["status"],
        "we:audience": view["audience"],
        "vf:publishes": [intent],
    }


def _event(view: dict, community: bytes) -> dict:
    f = view["fields"]
    event = {
        "@id": op_urn(view["id"]),
        "@type": "vf:EconomicEvent",
        "vf:action": f["action"],
        "vf:provider": {"@id": member_urn(view["contributor"])},
        "vf:inScopeOf": {"@id": op_urn(view["project"] or community)},
        "vf:hasPointInTime": iso(f["at"]),
        "vf:note": f.get("note", ""),
        "we:version": view["version"],
        "we:confirmations": view["confirmations"],
        "we:disputes": view["disputes"],
        "we:counts": view["counts"],
        "we:retracted": view["retracted"],
    }
    if "effort_minutes" in f:
        event["vf:effortQuantity"] = {
            "om2:hasNumericalValue": f["effort_minutes"],
            "om2:hasUnit": "om2:minute-Time",
        }
    if "quantity" in f:
        event["vf:resourceQuantity"] = _quantity(f["quantity"])
    if "skill" in f:
        event["vf:resourceClassifiedAs"] = f["skill"]
    if f.get("evidence"):
        event["dcterms:references"] = f["evidence"]
    return event


def to_jsonld(state: State, community: bytes, now_ms: int) -> dict:
    """The whole community's offers, needs, contributions and attestations as one JSON-LD
    document (``@graph``), all statuses included."""
    graph = [
        _proposal(v, "offer", "vf:provider") for v in offers(state, community, now_ms, status=None)
    ]
    graph += [
        _proposal(v, "request", "vf:receiver") for v in needs(state, community, now_ms, status=None)
    ]
    graph += [_event(v, community) for v in contributions(state, community)]
    graph += [
        {
            "@id": op_urn(a["id"]),
            "@type": "we:Attestation",
            "we:attests": {"@id": op_urn(a["contribution"])},
            "we:attester": {"@id": member_urn(a["attester"])},
            "we:verdict": a["verdict"],
            "we:version": a["version"],
            "we:latest": a["latest"],
        }
        for a in attestations(state, community)
    ]
    return {"@context": CONTEXT, "@id": op_urn(community), "@graph": graph}


# ------------------------------------------------------------------------------- CSV
LISTING_COLUMNS = (
    "id author status title category action quantity unit "
    "expires geohash radius_m remote tags description"
).split()
CONTRIBUTION_COLUMNS = (
    "id contributor project action effort_minutes quantity unit skill at "
    "version confirmations disputes counts retracted"
).split()
ATTESTATION_COLUMNS = "id contribution attester verdict version latest".split()


def _csv(columns: list[str], rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (v.hex() if isinstance(v, bytes) else v) for k, v in row.items()})
    return buf.getvalue()


def to_csv(state: State, community: bytes, what: str, now_ms: int) -> str:
    """CSV of ``what`` in {"offers", "needs", "contributions", "attestations"}."""
    if what in ("offers", "needs"):
        query = offers if what == "offers" else needs
        rows = [
            {
                **{k: v.get(k, "") for k in LISTING_COLUMNS},
                "quantity": v["quantity"]["amount"],
                "unit": v["quantity"]["unit"],
                "tags": " ".join(v["tags"]),
            }
            for v in query(state, community, now_ms, status=None)
        ]
        return _csv(LISTING_COLUMNS, rows)
    if what == "contributions":
        rows = []
        for v in contributions(state, community):
            f = v["fields"]
            q = f.get("quantity") or {}
            rows.append(
                {
                    "id": v["id"],
                    "contributor": v["contributor"],
                    "project": v["project"] or "",
                    "action": f["action"],
                    "effort_minutes": f.get("effort_minutes", ""),
                    "quantity": q.get("amount", ""),
                    "unit": q.get("unit", ""),
                    "skill": f.get("skill", ""),
                    "at": f["at"],
                    **{k: v[k] for k in ("version", "confirmations", "disputes")},
                    "counts": v["counts"],
                    "retracted": v["retracted"],
                }
            )
        return _csv(CONTRIBUTION_COLUMNS, rows)
    if what == "attestations":
        rows = [{k: a[k] for k in ATTESTATION_COLUMNS} for a in attestations(state, community)]
        return _csv(ATTESTATION_COLUMNS, rows)
    raise ValueError(f"unknown export {what!r}")
