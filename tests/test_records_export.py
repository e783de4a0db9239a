"""ValueFlows JSON-LD and CSV export, and the JSON-shaped views the control API serves."""

import csv
import io
import json

from test_records_support import DAY, PUB, T0, World, offer_body

from node.crdt.records import listing_views, queries, to_csv, to_jsonld, views
from node.identity import member_id


def populated():
    w = World({"name": "c", "attestation": {"confirmations": 1, "max_disputes": 0}})
    w.join(1, 2)
    offer = w.ok(1, "offer.create", offer_body(geohash="u33dc0", windows=[[T0, T0 + DAY]]))
    need = w.ok(2, "need.create", offer_body(title="need drill", geohash="u33dc0"))
    p = w.ok(1, "project.create", {"name": "p"})
    c = w.ok(1, "contribution.record",
             {"project": p.id, "action": "work", "effort_minutes": 90, "skill": "carpentry",
              "evidence": ["https://example.org/x"], "at": T0}, deps=[p.id])  # fmt: skip
    a = w.ok(2, "attestation.set", {"contribution": c.id, "verdict": "confirm"}, deps=[c.id])
    return w, offer, need, c, a


def test_jsonld_uses_valueflows_types():
    w, offer, need, c, a = populated()
    doc = json.loads(json.dumps(to_jsonld(w.state, w.community, T0)))
    assert doc["@context"]["vf"] == "https://w3id.org/valueflows/ont/vf#"
    by_id = {n["@id"]: n for n in doc["@graph"]}
    o = by_id[f"urn:we:op:{offer.id.hex()}"]
    assert (o["@type"], o["vf:purpose"]) == ("vf:Proposal", "offer")
    intent = o["vf:publishes"][0]
    assert intent["@type"] == "vf:Intent" and intent["vf:action"] == "lend"
    assert intent["vf:provider"]["@id"] == f"urn:we:member:{PUB[1].hex()}"
    assert intent["vf:hasBeginning"] == "2023-11-14T22:13:20Z"
    n = by_id[f"urn:we:op:{need.id.hex()}"]
    assert n["vf:purpose"] == "request" and "vf:receiver" in n["vf:publishes"][0]
    e = by_id[f"urn:we:op:{c.id.hex()}"]
    assert e["@type"] == "vf:EconomicEvent" and e["vf:action"] == "work"
    assert e["vf:effortQuantity"] == {"om2:hasNumericalValue": 90, "om2:hasUnit": "om2:minute-Time"}
    assert e["we:counts"] is True
    att = by_id[f"urn:we:op:{a.id.hex()}"]
    assert att["@type"] == "we:Attestation" and att["we:attests"]["@id"] == e["@id"]


def test_csv_tables():
    w, offer, need, c, a = populated()
    rows = list(csv.DictReader(io.StringIO(to_csv(w.state, w.community, "offers", T0))))
    assert [(r["id"], r["title"], r["quantity"], r["unit"]) for r in rows] == [
        (offer.id.hex(), "drill", "1", "item")
    ]
    rows = list(csv.DictReader(io.StringIO(to_csv(w.state, w.community, "contributions", T0))))
    assert rows[0]["effort_minutes"] == "90" and rows[0]["counts"] == "True"
    rows = list(csv.DictReader(io.StringIO(to_csv(w.state, w.community, "attestations", T0))))
    assert rows[0]["verdict"] == "confirm" and rows[0]["attester"] == PUB[2].hex()
    text = views.export(w.state, w.community, T0, format="csv")
    assert [line for line in text.splitlines() if line.startswith("# ")] == [
        "# offers", "# needs", "# contributions", "# attestations"
    ]  # fmt: skip


def test_api_views_accept_member_ids_and_are_json_shaped():
    w, offer, need, c, a = populated()
    mid = member_id(PUB[1])
    (row,) = views.scores(w.state, w.community, T0 + 180 * DAY, member=mid)
    assert row["score"] == [45, 1] and row["score_text"] == "45.00" and row["confirmed"] == 1
    assert views.scores(w.state, w.community, T0, member=PUB[2].hex())[0]["score"] == [0, 1]
    assert queries.profile(w.state, w.community, mid) is None
    (m,) = views.matches(w.state, w.community, T0)
    assert (m["need"], m["offer"]) == (need.id, offer.id) and m["reasons"]
    assert views.matches(w.state, w.community, T0, offer=offer.id)[0]["need"] == need.id
    assert len(listing_views.offers(w.state, w.community, T0 + 400 * DAY, status="any")) == 1
    doc = views.export(w.state, w.community, T0, what="contributions")
    assert [n["@type"] for n in doc["@graph"]] == ["vf:EconomicEvent"]
    assert queries.members(w.state, w.community, include_pending=False)[0]["status"] == "member"
