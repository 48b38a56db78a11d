"""Many clients at once on loopback: every request answered, and each with its own result."""

from __future__ import annotations

import json

import pytest

from drn.serve.load import background_server, run_load
from tests.serve.conftest import video_id

CLIENTS = 12
ROUNDS = 3
SENTENCES = ["a person opens the door", "someone sits on the sofa", "a person drinks from a cup"]


@pytest.mark.slow
def test_concurrent_clients_all_succeed_with_their_own_answers(make_client):
    client = make_client()  # the same app the server thread runs; used here for the sequential reference
    ids = [video_id(client, name) for name in ("kitchen", "hall")]
    bodies = [{"video": vid, "queries": [sentence]} for vid in ids for sentence in SENTENCES]
    bodies.append({"video": ids[0], "queries": SENTENCES})
    reference = [json.dumps(client.post("/api/predict", json=body).json()["predictions"]) for body in bodies]
    with background_server(client.app) as url:
        report = run_load(url, bodies, clients=CLIENTS, rounds=ROUNDS, timeout=60)
    assert report.failures == []
    assert report.requests == CLIENTS * ROUNDS * len(bodies)
    assert {i: answers for i, answers in report.answers.items()} == {i: {ref} for i, ref in enumerate(reference)}
    assert 0 < report.percentile(0.5) <= report.percentile(0.95)
